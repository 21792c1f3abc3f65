/**
 * The engine's dependency graph over resources in state (pulumi/pulumi pkg/resource/graph/dependency_graph.go):
 * a resource depends on its parent, its `dependsOn` and property dependencies, and its `deletedWith` resource.
 * Used for the delete schedule (step_generator.go ScheduleDeletes) and for dependent replacements
 * (step_generator.go calculateDependentReplacements).
 */

/** What the graph needs to know about one resource. */
export interface GraphNode {
    readonly urn: string;
    readonly parent: string;
    /** All dependencies the SDK sent (dependsOn and property dependencies). */
    readonly dependencies: readonly string[];
    readonly propertyDependencies: Readonly<Record<string, readonly string[]>>;
    readonly deletedWith: string;
}

/** The URNs `node` depends on (DependencyGraph.DependenciesOf). */
export function dependenciesOf(node: GraphNode): Set<string> {
    const deps = new Set<string>(node.dependencies);
    for (const urns of Object.values(node.propertyDependencies)) {
        for (const urn of urns) {
            deps.add(urn);
        }
    }
    if (node.parent) {
        deps.add(node.parent);
    }
    if (node.deletedWith) {
        deps.add(node.deletedWith);
    }
    deps.delete(node.urn);
    return deps;
}

/**
 * Everything that depends on `root`, directly or not, in the order of `nodes` (state order, which is
 * dependency order: a resource is registered after what it depends on). DependencyGraph.DependingOn.
 */
export function dependentsOf<T extends GraphNode>(root: GraphNode, nodes: readonly T[]): T[] {
    const reached = new Set<string>([root.urn]);
    const out: T[] = [];
    let grew = true;
    while (grew) {
        grew = false;
        for (const n of nodes) {
            if (reached.has(n.urn)) {
                continue;
            }
            if ([...dependenciesOf(n)].some((d) => reached.has(d))) {
                reached.add(n.urn);
                out.push(n);
                grew = true;
            }
        }
    }
    return nodes.filter((n) => out.includes(n));
}

/**
 * ScheduleDeletes: repeatedly take the condemned resources none of whose dependencies is still condemned
 * (an antichain), then reverse the list, so dependents go before what they depend on and each group may
 * run in parallel.
 */
export function scheduleDeletes<T extends GraphNode>(condemned: readonly T[]): T[][] {
    const left = new Set<T>(condemned);
    const chains: T[][] = [];
    while (left.size > 0) {
        const urnsLeft = new Set([...left].map((n) => n.urn));
        const chain = [...left].filter((n) => ![...dependenciesOf(n)].some((d) => urnsLeft.has(d)));
        if (chain.length === 0) {
            throw new Error(`dependency cycle among ${[...urnsLeft].join(", ")}`);
        }
        for (const n of chain) {
            left.delete(n);
        }
        chains.push(chain);
    }
    return chains.reverse();
}
