/**
 * Loads an optional peer dependency, or fails with the `npm install` line that fixes it. Called
 * before a component registers anything, so a missing package stops the program at the line
 * that needed it, not halfway through a deployment.
 */
export function requireOptionalPeer<T>(moduleId: string, packageName: string, neededFor: string): T {
    try {
        return require(moduleId) as T;
    } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "MODULE_NOT_FOUND" && String((e as Error).message).includes(packageName)) {
            throw new Error(
                `pulumi-graceful-vm: ${neededFor} needs the package ${packageName}, which is not installed. Run: npm install ${packageName}`,
                {
                    cause: e,
                },
            );
        }
        throw e;
    }
}
