package main

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// httpFaults answers the next N SOAP calls (of one method, or any) with an HTTP error and a
// plain-text body, as the reverse proxy in front of vCenter (envoy, rhttpproxy) does while
// vpxd restarts: 503 Service Unavailable, sometimes with Retry-After.
type httpFaults struct {
	mu         sync.Mutex
	method     string // "" = any method
	left       int
	status     int
	retryAfter string // seconds, "" = no header
}

type httpFaultStatus struct {
	Method     string `json:"method"`
	Left       int    `json:"left"`
	Status     int    `json:"status"`
	RetryAfter string `json:"retryAfter,omitempty"`
}

func (f *httpFaults) set(method string, count, status int, retryAfter string) httpFaultStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.method, f.left, f.status, f.retryAfter = method, count, status, retryAfter
	return httpFaultStatus{Method: method, Left: count, Status: status, RetryAfter: retryAfter}
}

// answer writes the fault and returns true when this call of method is one of the N.
func (f *httpFaults) answer(w http.ResponseWriter, method string) bool {
	f.mu.Lock()
	hit := f.left > 0 && (f.method == "" || f.method == method)
	status, retryAfter := f.status, f.retryAfter
	if hit {
		f.left--
	}
	f.mu.Unlock()
	if !hit {
		return false
	}
	if retryAfter != "" {
		w.Header().Set("Retry-After", retryAfter)
	}
	log.Printf("outage: %s answered HTTP %d", method, status)
	http.Error(w, fmt.Sprintf("%d %s", status, http.StatusText(status)), status)
	return true
}

// setHTTPFault: POST /vcsim-ctl/http-fault?count=N[&method=M&status=503&retryAfter=S].
func (c *control) setHTTPFault(w http.ResponseWriter, r *http.Request) {
	count, err := strconv.Atoi(r.Form.Get("count"))
	if err != nil || count < 0 || count > 100000 {
		replyError(w, http.StatusBadRequest, "count= must be a whole number from 0 to 100000")
		return
	}
	status := http.StatusServiceUnavailable
	if v := r.Form.Get("status"); v != "" {
		if status, err = strconv.Atoi(v); err != nil || status < 400 || status > 599 {
			replyError(w, http.StatusBadRequest, "status= must be an HTTP error status (400-599)")
			return
		}
	}
	retryAfter := r.Form.Get("retryAfter")
	if retryAfter != "" {
		if n, err := strconv.Atoi(retryAfter); err != nil || n < 0 {
			replyError(w, http.StatusBadRequest, "retryAfter= must be whole seconds")
			return
		}
	}
	reply(w, http.StatusOK, c.faults.set(r.Form.Get("method"), count, status, retryAfter))
}

// destroy removes a VM from the inventory at once, running or not (a host that drops it, an
// administrator's unregister and delete): a client watching it sees it leave, with no power
// change first.
func (c *control) destroy(w http.ResponseWriter, r *http.Request) {
	vm, ok := c.target(w, r, true)
	if !ok {
		return
	}
	name, ref := vm.Name, vm.Self
	// Destroy_Task refuses a running VM; this switch models a VM that vanishes, so the power
	// state changes silently (no property update, no event) right before.
	simulator.Map.WithLock(vm, func() {
		vm.Runtime.PowerState = types.VirtualMachinePowerStatePoweredOff
		vm.Summary.Runtime.PowerState = types.VirtualMachinePowerStatePoweredOff
	})
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	task, err := object.NewVirtualMachine(c.inv.client, ref).Destroy(ctx)
	if err == nil {
		_, err = task.WaitForResult(ctx, nil)
	}
	if err != nil {
		replyError(w, http.StatusConflict, "destroy "+name+": "+err.Error())
		return
	}
	log.Printf("control: %s destroyed", name)
	reply(w, http.StatusOK, map[string]string{"destroyed": name, "moid": ref.Value})
}
