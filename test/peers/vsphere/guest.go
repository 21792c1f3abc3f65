package main

import (
	"context"
	"log"
	"sort"
	"sync"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// guestType is the managed-object type of the stand-in that answers a VM's ShutdownGuest
// (see soap.go): the simulator's own VirtualMachine powers off synchronously and never looks at
// VMware Tools, and a VM object of another Go type would break the simulator's type assertions.
const guestType = "GracefulVmPeerGuest"

// vmRuntime is the per-VM state of the guest layer, keyed by moid.
type vmRuntime struct {
	override      *behaviour // nil: the VM follows the default behaviour
	generation    uint64     // bumped on every power state change: stale timers check it
	shuttingDown  bool       // an accepted ShutdownGuest is in progress
	startingUntil time.Time  // tools report guestToolsExecutingScripts until then
	faultsLeft    int        // ShutdownGuest calls still answered with ShutdownFault
	hasGuest      bool       // the stand-in object is registered
}

// guestLayer simulates the guest OS and VMware Tools of every VM.
type guestLayer struct {
	mu       sync.Mutex
	initial  behaviour            // the command-line default, for /reset
	initVMs  map[string]behaviour // command-line per-VM settings by VM name, for /reset
	def      behaviour
	vms      map[string]*vmRuntime
	guestCtx *simulator.Context // session for events posted by the simulated guest
}

func newGuestLayer(def behaviour, perVM map[string]behaviour) *guestLayer {
	return &guestLayer{
		initial: def, initVMs: perVM, def: def, vms: map[string]*vmRuntime{},
		guestCtx: &simulator.Context{
			Context: context.Background(),
			Map:     simulator.Map,
			Session: &simulator.Session{UserSession: types.UserSession{UserName: "guest"}},
		},
	}
}

// runtime returns the VM's state; the caller holds g.mu.
func (g *guestLayer) runtime(moid string) *vmRuntime {
	r, ok := g.vms[moid]
	if !ok {
		r = &vmRuntime{}
		g.vms[moid] = r
	}
	return r
}

// effective is the VM's behaviour; the caller holds g.mu.
func (g *guestLayer) effective(moid string) behaviour {
	if r, ok := g.vms[moid]; ok && r.override != nil {
		return *r.override
	}
	return g.def
}

func (g *guestLayer) behaviourOf(moid string) (behaviour, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	r, ok := g.vms[moid]
	return g.effective(moid), ok && r.override != nil
}

// guestProperties computes what vSphere reports about the guest for the VM's power state.
func (g *guestLayer) guestProperties(moid string, power types.VirtualMachinePowerState) []types.PropertyChange {
	g.mu.Lock()
	b := g.effective(moid)
	r := g.runtime(moid)
	starting := time.Now().Before(r.startingUntil)
	shuttingDown := r.shuttingDown
	g.mu.Unlock()

	on := power == types.VirtualMachinePowerStatePoweredOn
	toolsStatus := types.VirtualMachineToolsStatusToolsOk
	running := types.VirtualMachineToolsRunningStatusGuestToolsRunning
	versionStatus := types.VirtualMachineToolsVersionStatusGuestToolsCurrent
	version := "12352"
	guestState := types.VirtualMachineGuestStateRunning
	heartbeat := types.ManagedEntityStatusGreen

	switch {
	case b.Tools == toolsNotInstalled:
		toolsStatus = types.VirtualMachineToolsStatusToolsNotInstalled
		running = types.VirtualMachineToolsRunningStatusGuestToolsNotRunning
		versionStatus = types.VirtualMachineToolsVersionStatusGuestToolsNotInstalled
		version = "0"
	case !on || b.Tools == toolsNotRunning:
		toolsStatus = types.VirtualMachineToolsStatusToolsNotRunning
		running = types.VirtualMachineToolsRunningStatusGuestToolsNotRunning
	case starting:
		// Tools run their power-on scripts: not yet able to take guest operations.
		toolsStatus = types.VirtualMachineToolsStatusToolsNotRunning
		running = types.VirtualMachineToolsRunningStatusGuestToolsExecutingScripts
	}
	if running != types.VirtualMachineToolsRunningStatusGuestToolsRunning {
		guestState = types.VirtualMachineGuestStateNotRunning
		heartbeat = types.ManagedEntityStatusGray
	}
	if on && shuttingDown {
		guestState = types.VirtualMachineGuestStateShuttingDown
	}
	if on && b.GuestState != guestAuto {
		guestState = types.VirtualMachineGuestState(b.GuestState)
	}

	return []types.PropertyChange{
		{Name: "guest.toolsStatus", Val: toolsStatus},
		{Name: "guest.toolsRunningStatus", Val: string(running)},
		{Name: "guest.toolsVersion", Val: version},
		{Name: "guest.toolsVersionStatus", Val: string(versionStatus)},
		{Name: "guest.toolsVersionStatus2", Val: string(versionStatus)},
		{Name: "guest.guestState", Val: string(guestState)},
		{Name: "summary.guest.toolsStatus", Val: toolsStatus},
		{Name: "summary.guest.toolsRunningStatus", Val: string(running)},
		{Name: "summary.guest.toolsVersionStatus", Val: string(versionStatus)},
		{Name: "summary.guest.toolsVersionStatus2", Val: string(versionStatus)},
		{Name: "summary.quickStats.guestHeartbeatStatus", Val: heartbeat},
	}
}

// publish pushes the VM's guest properties (so property collectors and WaitForUpdatesEx see
// them); the caller holds the VM's lock.
func (g *guestLayer) publish(vm *simulator.VirtualMachine) {
	simulator.Map.Update(vm, g.guestProperties(vm.Self.Value, vm.Runtime.PowerState))
}

// refresh publishes one VM's guest properties, taking its lock.
func (g *guestLayer) refresh(moid string) {
	vm := vmByMoid(moid)
	if vm == nil {
		return
	}
	simulator.Map.WithLock(vm, func() { g.publish(vm) })
}

func (g *guestLayer) refreshAll() {
	for _, vm := range allVMs() {
		g.refresh(vm.Self.Value)
	}
}

// startTools makes the VM's tools report "starting" for d from now; the caller holds g.mu.
func (g *guestLayer) startTools(moid string, r *vmRuntime, d time.Duration) {
	if d <= 0 {
		r.startingUntil = time.Time{}
		return
	}
	r.startingUntil = time.Now().Add(d)
	generation := r.generation
	time.AfterFunc(d+10*time.Millisecond, func() {
		g.mu.Lock()
		current := g.runtime(moid).generation == generation
		g.mu.Unlock()
		if current {
			g.refresh(moid)
		}
	})
}

// The guest layer is a registry handler, so it sees power changes made by any code path
// (PowerOnVM_Task, PowerOffVM_Task, a guest shutdown, the control endpoint).
func (g *guestLayer) Reference() types.ManagedObjectReference {
	return types.ManagedObjectReference{Type: "GracefulVmPeerWatcher", Value: "guest-layer"}
}
func (g *guestLayer) PutObject(mo.Reference)                    {}
func (g *guestLayer) RemoveObject(types.ManagedObjectReference) {}
func (g *guestLayer) UpdateObject(obj mo.Reference, changes []types.PropertyChange) {
	vm, ok := obj.(*mo.VirtualMachine)
	if !ok {
		return
	}
	for _, c := range changes {
		if c.Name != "runtime.powerState" {
			continue
		}
		moid := vm.Self.Value
		g.mu.Lock()
		r := g.runtime(moid)
		r.generation++
		r.shuttingDown = false
		r.startingUntil = time.Time{}
		if vm.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOn {
			g.startTools(moid, r, g.effective(moid).toolsStarting())
		}
		g.mu.Unlock()
		// Called from inside the Map.Update of code that holds the VM's lock: no WithLock here.
		simulator.Map.Update(vm, g.guestProperties(moid, vm.Runtime.PowerState))
		return
	}
}

// guestStandIn answers ShutdownGuest for the VM with the same moid.
type guestStandIn struct {
	self  types.ManagedObjectReference
	layer *guestLayer
}

func (s *guestStandIn) Reference() types.ManagedObjectReference { return s.self }

func (s *guestStandIn) ShutdownGuest(ctx *simulator.Context, req *types.ShutdownGuest) soap.HasFault {
	vm := vmByMoid(s.self.Value)
	if vm == nil {
		ref := types.ManagedObjectReference{Type: "VirtualMachine", Value: s.self.Value}
		return &methods.ShutdownGuestBody{Fault_: simulator.Fault("", &types.ManagedObjectNotFound{Obj: ref})}
	}
	var res soap.HasFault
	simulator.Map.WithLock(vm, func() { res = s.layer.shutdownGuest(vm) })
	return res
}

func shutdownFaultOf(kind string, vm *simulator.VirtualMachine) *soap.Fault {
	switch kind {
	case "TaskInProgress":
		return simulator.Fault("Another task is already in progress.",
			&types.TaskInProgress{Task: types.ManagedObjectReference{Type: "Task", Value: "task-guest-busy"}})
	case "InvalidState":
		return simulator.Fault("The operation is not allowed in the current state.", &types.InvalidState{})
	default:
		return simulator.Fault("vcsim peer: simulated guest shutdown failure",
			&types.SystemError{Reason: "vcsim peer: simulated guest shutdown failure"})
	}
}

// shutdownGuest runs with the VM's lock held. The checks follow vSphere's order: power state,
// then whatever keeps the host busy, then VMware Tools, then the guest itself.
func (g *guestLayer) shutdownGuest(vm *simulator.VirtualMachine) soap.HasFault {
	body := new(methods.ShutdownGuestBody)
	moid := vm.Self.Value
	if vm.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOn {
		body.Fault_ = simulator.Fault("", &types.InvalidPowerState{
			RequestedState: types.VirtualMachinePowerStatePoweredOn,
			ExistingState:  vm.Runtime.PowerState,
		})
		return body
	}

	g.mu.Lock()
	b := g.effective(moid)
	r := g.runtime(moid)
	transient := ""
	if r.faultsLeft > 0 && b.ShutdownFault != faultNone {
		r.faultsLeft--
		transient = b.ShutdownFault
	}
	starting := time.Now().Before(r.startingUntil)
	g.mu.Unlock()

	if transient != "" {
		log.Printf("guest: ShutdownGuest %s (%s): simulated %s", vm.Name, moid, transient)
		body.Fault_ = shutdownFaultOf(transient, vm)
		return body
	}
	if b.Tools != toolsRunning || starting {
		log.Printf("guest: ShutdownGuest %s (%s): ToolsUnavailable (tools=%s, starting=%v)", vm.Name, moid, b.Tools, starting)
		body.Fault_ = simulator.Fault("Cannot complete operation because VMware Tools is not running in this virtual machine.",
			new(types.ToolsUnavailable))
		return body
	}
	switch b.Shutdown {
	case shutdownFault:
		log.Printf("guest: ShutdownGuest %s (%s): simulated SystemError", vm.Name, moid)
		body.Fault_ = shutdownFaultOf("SystemError", vm)
		return body
	case shutdownHang:
		log.Printf("guest: ShutdownGuest %s (%s): accepted; the guest never powers off", vm.Name, moid)
		body.Res = new(types.ShutdownGuestResponse)
		return body
	}

	d := b.delay()
	if d == 0 {
		g.guestPowersOff(vm)
		body.Res = new(types.ShutdownGuestResponse)
		return body
	}
	g.mu.Lock()
	r.shuttingDown = true
	generation := r.generation
	g.mu.Unlock()
	g.publish(vm)
	log.Printf("guest: ShutdownGuest %s (%s): accepted; powered off in %s", vm.Name, moid, d)
	time.AfterFunc(d, func() {
		vm := vmByMoid(moid)
		if vm == nil {
			return
		}
		simulator.Map.WithLock(vm, func() {
			g.mu.Lock()
			current := g.runtime(moid).generation == generation
			g.mu.Unlock()
			if !current || vm.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOn {
				log.Printf("guest: %s: delayed shutdown dropped (the power state changed meanwhile)", vm.Name)
				return
			}
			g.guestPowersOff(vm)
		})
	})
	body.Res = new(types.ShutdownGuestResponse)
	return body
}

// guestPowersOff ends the guest as its own shutdown does (VmGuestShutdownEvent, then
// poweredOff); the caller holds the VM's lock.
func (g *guestLayer) guestPowersOff(vm *simulator.VirtualMachine) {
	ref := vm.Self
	if fault := vm.ShutdownGuest(g.guestCtx, &types.ShutdownGuest{This: ref}).Fault(); fault != nil {
		log.Printf("guest: %s: power-off failed: %s", vm.Name, fault.String)
		return
	}
	log.Printf("guest: %s (%s) powered off by its guest", vm.Name, ref.Value)
}

// ensureStandIn registers the ShutdownGuest stand-in of a VM; false if there is no such VM.
func (g *guestLayer) ensureStandIn(moid string) bool {
	if vmByMoid(moid) == nil {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	r := g.runtime(moid)
	if !r.hasGuest {
		simulator.Map.Put(&guestStandIn{self: types.ManagedObjectReference{Type: guestType, Value: moid}, layer: g})
		r.hasGuest = true
	}
	return true
}

func vmByMoid(moid string) *simulator.VirtualMachine {
	vm, _ := simulator.Map.Get(types.ManagedObjectReference{Type: "VirtualMachine", Value: moid}).(*simulator.VirtualMachine)
	return vm
}

func allVMs() []*simulator.VirtualMachine {
	var vms []*simulator.VirtualMachine
	for _, e := range simulator.Map.All("VirtualMachine") {
		if vm, ok := e.(*simulator.VirtualMachine); ok {
			vms = append(vms, vm)
		}
	}
	sort.Slice(vms, func(i, j int) bool { return vms[i].Name < vms[j].Name })
	return vms
}

// vmNamed finds a VM by name or moid (whichever is given).
func vmNamed(name, moid string) *simulator.VirtualMachine {
	if moid != "" {
		return vmByMoid(moid)
	}
	for _, e := range simulator.Map.All("VirtualMachine") {
		if vm, ok := e.(*simulator.VirtualMachine); ok && vm.Name == name {
			return vm
		}
	}
	return nil
}
