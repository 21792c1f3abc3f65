package main

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/types"
)

// inventory changes the simulated inventory from outside vim25's clients: more VMs, and power
// changes no client asked for. It goes through an in-process client (the simulator's own
// internal session), so tasks, events and property updates are the simulator's own and none of
// it shows up in the SOAP call counts.
type inventory struct {
	client *vim25.Client
	mu     sync.Mutex // one fleet creation at a time
}

func newInventory(service *simulator.Service) (*inventory, error) {
	client, err := vim25.NewClient(context.Background(), service)
	if err != nil {
		return nil, fmt.Errorf("in-process client: %w", err)
	}
	return &inventory{client: client}, nil
}

// placement is where new VMs go: the first datacenter's VM folder, on the first host by name.
func (inv *inventory) placement(ctx context.Context) (*object.Folder, *object.ResourcePool, *object.HostSystem, string, error) {
	dcs := simulator.Map.All("Datacenter")
	if len(dcs) == 0 {
		return nil, nil, nil, "", fmt.Errorf("no datacenter")
	}
	sort.Slice(dcs, func(i, j int) bool { return dcs[i].Entity().Name < dcs[j].Entity().Name })
	dc := dcs[0].(*simulator.Datacenter)

	var hosts []*simulator.HostSystem
	for _, e := range simulator.Map.All("HostSystem") {
		hosts = append(hosts, e.(*simulator.HostSystem))
	}
	if len(hosts) == 0 {
		return nil, nil, nil, "", fmt.Errorf("no host")
	}
	sort.Slice(hosts, func(i, j int) bool { return hosts[i].Name < hosts[j].Name })
	host := object.NewHostSystem(inv.client, hosts[0].Self)
	pool, err := host.ResourcePool(ctx)
	if err != nil {
		return nil, nil, nil, "", fmt.Errorf("resource pool of %s: %w", hosts[0].Name, err)
	}
	datastore := ""
	if len(hosts[0].Datastore) > 0 {
		if ds, ok := simulator.Map.Get(hosts[0].Datastore[0]).(*simulator.Datastore); ok {
			datastore = ds.Name
		}
	}
	if datastore == "" {
		return nil, nil, nil, "", fmt.Errorf("no datastore on %s", hosts[0].Name)
	}
	return object.NewFolder(inv.client, dc.VmFolder), pool, host, datastore, nil
}

type fleetResult struct {
	Prefix   string `json:"prefix"`
	Count    int    `json:"count"`
	Created  int    `json:"created"`
	Existing int    `json:"existing"`
	Millis   int64  `json:"ms"`
	First    string `json:"first,omitempty"`
	Last     string `json:"last,omitempty"`
}

func fleetName(prefix string, i int) string { return fmt.Sprintf("%s-%04d", prefix, i) }

// ensureFleet makes VMs prefix-0000 ... prefix-(count-1) exist (creating the missing ones,
// powered on when on is true). Idempotent: a second call with the same count creates nothing.
func (inv *inventory) ensureFleet(ctx context.Context, layer *guestLayer, prefix string, count int, on bool) (fleetResult, error) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	started := time.Now()
	res := fleetResult{Prefix: prefix, Count: count}
	if count > 0 {
		res.First, res.Last = fleetName(prefix, 0), fleetName(prefix, count-1)
	}
	existing := map[string]bool{}
	for _, vm := range simulator.Map.All("VirtualMachine") {
		existing[vm.Entity().Name] = true
	}
	folder, pool, host, datastore, err := inv.placement(ctx)
	if err != nil {
		return res, err
	}
	for i := 0; i < count; i++ {
		name := fleetName(prefix, i)
		if existing[name] {
			res.Existing++
			continue
		}
		spec := types.VirtualMachineConfigSpec{
			Name:    name,
			GuestId: string(types.VirtualMachineGuestOsIdentifierOtherGuest),
			Files:   &types.VirtualMachineFileInfo{VmPathName: "[" + datastore + "]"},
		}
		task, err := folder.CreateVM(ctx, spec, pool, host)
		if err != nil {
			return res, fmt.Errorf("create %s: %w", name, err)
		}
		info, err := task.WaitForResult(ctx, nil)
		if err != nil {
			return res, fmt.Errorf("create %s: %w", name, err)
		}
		ref := info.Result.(types.ManagedObjectReference)
		if on {
			if err := inv.power(ctx, ref, true); err != nil {
				return res, fmt.Errorf("power on %s: %w", name, err)
			}
		} else {
			layer.refresh(ref.Value)
		}
		res.Created++
	}
	res.Millis = time.Since(started).Milliseconds()
	return res, nil
}

// power runs PowerOnVM_Task or PowerOffVM_Task (a hard power-off) and waits for the task.
func (inv *inventory) power(ctx context.Context, ref types.ManagedObjectReference, on bool) error {
	vm := object.NewVirtualMachine(inv.client, ref)
	var task *object.Task
	var err error
	if on {
		task, err = vm.PowerOn(ctx)
	} else {
		task, err = vm.PowerOff(ctx)
	}
	if err != nil {
		return err
	}
	_, err = task.WaitForResult(ctx, nil)
	return err
}

// powerState reads a VM's power state under its lock.
func powerState(vm *simulator.VirtualMachine) types.VirtualMachinePowerState {
	var state types.VirtualMachinePowerState
	simulator.Map.WithLock(vm, func() { state = vm.Runtime.PowerState })
	return state
}

// guestView is a VM's power and guest properties, as a client would read them.
func guestView(vm *simulator.VirtualMachine) (power, tools, guestState string) {
	simulator.Map.WithLock(vm, func() {
		power = string(vm.Runtime.PowerState)
		if vm.Guest != nil {
			tools, guestState = vm.Guest.ToolsRunningStatus, vm.Guest.GuestState
		}
	})
	return power, tools, guestState
}
