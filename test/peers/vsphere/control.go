package main

import (
	"context"
	"encoding/json"
	"log"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// control serves /vcsim-ctl/ (plain JSON, no auth; the server listens on loopback only).
// See README.md for the API.
type control struct {
	mode    string // "vpx" or "esx"
	layer   *guestLayer
	counter *callCounter
	freeze  *freezer
	faults  *httpFaults
	inv     *inventory
}

type vmStatus struct {
	Name               string `json:"name"`
	Moid               string `json:"moid"`
	PowerState         string `json:"powerState"`
	ToolsRunningStatus string `json:"toolsRunningStatus"`
	GuestState         string `json:"guestState"`
	behaviour
	// The behaviour's guestState setting (auto or fixed); GuestState above is what vSphere reports.
	GuestStateSetting string `json:"guestStateSetting"`
	Override          bool   `json:"override"`
	FaultsLeft        int    `json:"shutdownFaultsLeft"`
}

func (c *control) status(vm *simulator.VirtualMachine) vmStatus {
	st := vmStatus{Name: vm.Name, Moid: vm.Self.Value}
	st.PowerState, st.ToolsRunningStatus, st.GuestState = guestView(vm)
	st.behaviour, st.Override = c.layer.behaviourOf(vm.Self.Value)
	st.GuestStateSetting = st.behaviour.GuestState
	c.layer.mu.Lock()
	st.FaultsLeft = c.layer.runtime(vm.Self.Value).faultsLeft
	c.layer.mu.Unlock()
	return st
}

func reply(w http.ResponseWriter, code int, v interface{}) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func replyError(w http.ResponseWriter, code int, msg string) {
	reply(w, code, map[string]string{"error": msg})
}

const usage = "GET /vcsim-ctl/vms[?prefix=], POST /vcsim-ctl/vm?name=|moid=&tools=&shutdown=&delay=&guestState=&toolsStarting=&shutdownFault=&shutdownFaultCount=, " +
	"POST /vcsim-ctl/power?name=|moid=&state=on|off[&after=&by=someone|guest], POST /vcsim-ctl/fleet?count=[&prefix=fleet&power=on|off], " +
	"GET /vcsim-ctl/calls[?scope=], POST /vcsim-ctl/calls/reset[?scope=], POST /vcsim-ctl/sessions/terminate[?scope=], POST /vcsim-ctl/freeze?for=DURATION, POST /vcsim-ctl/reset, GET /vcsim-ctl/about, " +
	"POST /vcsim-ctl/http-fault?count=N[&method=&status=503&retryAfter=S], POST /vcsim-ctl/destroy?name=|moid="

func (c *control) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	path := strings.TrimSuffix(r.URL.Path, "/")
	post := r.Method == http.MethodPost
	switch {
	case path == "/vcsim-ctl" || path == "/vcsim-ctl/vms":
		c.listVMs(w, r)
	case path == "/vcsim-ctl/about":
		reply(w, http.StatusOK, map[string]interface{}{
			"mode": c.mode, "vms": len(simulator.Map.All("VirtualMachine")),
			"frozenUntil": c.freeze.frozenUntil().UTC().Format(time.RFC3339Nano),
		})
	case path == "/vcsim-ctl/vm" && post:
		c.setBehaviour(w, r)
	case path == "/vcsim-ctl/power" && post:
		c.setPower(w, r)
	case path == "/vcsim-ctl/fleet" && post:
		c.fleet(w, r)
	case path == "/vcsim-ctl/calls":
		reply(w, http.StatusOK, c.counter.snapshot(r.Form.Get("scope"), false))
	case path == "/vcsim-ctl/calls/reset" && post:
		reply(w, http.StatusOK, c.counter.snapshot(r.Form.Get("scope"), true))
	case path == "/vcsim-ctl/freeze" && post:
		d, err := parseDuration("for", r.Form.Get("for"))
		if err != nil {
			replyError(w, http.StatusBadRequest, err.Error())
			return
		}
		until := c.freeze.set(d)
		log.Printf("control: SOAP frozen for %s", d)
		reply(w, http.StatusOK, map[string]string{"frozenUntil": until.UTC().Format(time.RFC3339Nano)})
	case path == "/vcsim-ctl/sessions/terminate" && post:
		reply(w, http.StatusOK, map[string]int{"terminated": terminateSessions(c.counter.takeSessions(r.Form.Get("scope")))})
	case path == "/vcsim-ctl/http-fault" && post:
		c.setHTTPFault(w, r)
	case path == "/vcsim-ctl/destroy" && post:
		c.destroy(w, r)
	case path == "/vcsim-ctl/reset" && post:
		c.reset()
		reply(w, http.StatusOK, map[string]string{"reset": "ok"})
	default:
		replyError(w, http.StatusNotFound, "use "+usage)
	}
}

func (c *control) listVMs(w http.ResponseWriter, r *http.Request) {
	prefix := r.Form.Get("prefix")
	out := []vmStatus{}
	for _, vm := range allVMs() {
		if strings.HasPrefix(vm.Name, prefix) {
			out = append(out, c.status(vm))
		}
	}
	def, _ := c.layer.behaviourOf("")
	reply(w, http.StatusOK, map[string]interface{}{"mode": c.mode, "default": def, "vms": out})
}

// target finds the VM named by name= or moid=; nil (and an answer sent) if there is none.
func (c *control) target(w http.ResponseWriter, r *http.Request, required bool) (*simulator.VirtualMachine, bool) {
	name, moid := r.Form.Get("name"), r.Form.Get("moid")
	if name == "" && moid == "" {
		if required {
			replyError(w, http.StatusBadRequest, "name= or moid= is required")
			return nil, false
		}
		return nil, true
	}
	vm := vmNamed(name, moid)
	if vm == nil {
		replyError(w, http.StatusNotFound, "no such VM: name="+strconv.Quote(name)+" moid="+strconv.Quote(moid))
		return nil, false
	}
	return vm, true
}

// setBehaviour changes one VM (name= or moid=) or, without either, the default of every VM
// that has no setting of its own. Parameters that are absent keep their value.
func (c *control) setBehaviour(w http.ResponseWriter, r *http.Request) {
	vm, ok := c.target(w, r, false)
	if !ok {
		return
	}
	// Read under the VM's lock before taking the layer's: the simulator holds a VM's lock when it
	// calls into the layer, so the layer's lock never waits for a VM's.
	on := vm != nil && powerState(vm) == types.VirtualMachinePowerStatePoweredOn
	l := c.layer
	l.mu.Lock()
	current := l.def
	moid := ""
	if vm != nil {
		moid = vm.Self.Value
		current = l.effective(moid)
	}
	next, rearm, err := current.withForm(r.Form)
	if err != nil {
		l.mu.Unlock()
		replyError(w, http.StatusBadRequest, err.Error())
		return
	}
	if vm == nil {
		l.def = next
		l.mu.Unlock()
		l.refreshAll()
		reply(w, http.StatusOK, map[string]interface{}{"default": next})
		return
	}
	rt := l.runtime(moid)
	rt.override = &next
	if rearm {
		rt.faultsLeft = next.ShutdownFaultCount
	}
	if r.Form.Get("toolsStarting") != "" {
		rt.startingUntil = time.Time{}
		if on {
			l.startTools(moid, rt, next.toolsStarting())
		}
	}
	l.mu.Unlock()
	l.refresh(moid)
	reply(w, http.StatusOK, c.status(vm))
}

// setPower powers a VM on or off hard, as someone else would (another client, HA, a crash),
// now or after= a delay (the answer does not wait for a delayed change).
func (c *control) setPower(w http.ResponseWriter, r *http.Request) {
	vm, ok := c.target(w, r, true)
	if !ok {
		return
	}
	state := r.Form.Get("state")
	if err := oneOf("state", state, "on", "off"); err != nil {
		replyError(w, http.StatusBadRequest, err.Error())
		return
	}
	after := time.Duration(0)
	if v := r.Form.Get("after"); v != "" {
		d, err := parseDuration("after", v)
		if err != nil {
			replyError(w, http.StatusBadRequest, err.Error())
			return
		}
		after = d
	}
	by := r.Form.Get("by")
	if by == "" {
		by = "someone"
	}
	if err := oneOf("by", by, "someone", "guest"); err != nil || (by == "guest" && state != "off") {
		replyError(w, http.StatusBadRequest, "by= must be someone, or guest with state=off")
		return
	}
	ref, name := vm.Self, vm.Name
	// by=guest: the guest OS shuts itself down (no power-off task, VmGuestShutdownEvent);
	// otherwise a PowerOffVM_Task / PowerOnVM_Task of another client.
	apply := func(ctx context.Context) error {
		if by == "guest" {
			if now := vmByMoid(ref.Value); now != nil {
				simulator.Map.WithLock(now, func() { c.layer.guestPowersOff(now) })
			}
			return nil
		}
		return c.inv.power(ctx, ref, state == "on")
	}
	if after > 0 {
		time.AfterFunc(after, func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := apply(ctx); err != nil {
				log.Printf("control: delayed power %s %s: %v", state, name, err)
			}
		})
		reply(w, http.StatusAccepted, map[string]string{"name": name, "state": state, "after": after.String()})
		return
	}
	want := types.VirtualMachinePowerStatePoweredOff
	if state == "on" {
		want = types.VirtualMachinePowerStatePoweredOn
	}
	if now := powerState(vm); now == want {
		replyError(w, http.StatusConflict, name+" is already "+string(now))
		return
	}
	if err := apply(r.Context()); err != nil {
		replyError(w, http.StatusConflict, "power "+state+" "+name+": "+err.Error())
		return
	}
	log.Printf("control: %s powered %s out of band (by %s)", name, state, by)
	reply(w, http.StatusOK, c.status(vm))
}

func (c *control) fleet(w http.ResponseWriter, r *http.Request) {
	count, err := strconv.Atoi(r.Form.Get("count"))
	if err != nil || count < 0 || count > 100000 {
		replyError(w, http.StatusBadRequest, "count= must be a whole number from 0 to 100000")
		return
	}
	prefix := r.Form.Get("prefix")
	if prefix == "" {
		prefix = "fleet"
	}
	power := r.Form.Get("power")
	if power == "" {
		power = "on"
	}
	if err := oneOf("power", power, "on", "off"); err != nil {
		replyError(w, http.StatusBadRequest, err.Error())
		return
	}
	res, err := c.inv.ensureFleet(r.Context(), c.layer, prefix, count, power == "on")
	if err != nil {
		replyError(w, http.StatusInternalServerError, err.Error())
		return
	}
	log.Printf("control: fleet %s: %d created, %d existed, %d ms", prefix, res.Created, res.Existing, res.Millis)
	reply(w, http.StatusOK, res)
}

// reset puts every behaviour back to the command line's, lifts a freeze and re-arms the
// command line's transient faults. Power states and call counts stay as they are.
func (c *control) reset() {
	l := c.layer
	l.mu.Lock()
	l.def = l.initial
	for _, rt := range l.vms {
		rt.override = nil
		rt.faultsLeft = 0
		rt.startingUntil = time.Time{}
	}
	for name, b := range l.initVMs {
		if vm := vmNamed(name, ""); vm != nil {
			b := b
			rt := l.runtime(vm.Self.Value)
			rt.override = &b
			rt.faultsLeft = b.ShutdownFaultCount
		}
	}
	l.mu.Unlock()
	c.freeze.set(0)
	c.faults.set("", 0, 0, "")
	l.refreshAll()
}

// terminateSessions ends these sessions as an administrator (or an idle timeout) would: the
// next call with one of their cookies answers NotAuthenticated. Sessions already gone are
// skipped. Answers how many were ended.
func terminateSessions(keys []string) int {
	sm := simulator.Map.SessionManager()
	// TerminateSession refuses to end the caller's own session; the control endpoint has none.
	ctx := &simulator.Context{Session: &simulator.Session{UserSession: types.UserSession{Key: "vcsim-ctl"}}}
	ended := 0
	for _, key := range keys {
		if sm.TerminateSession(ctx, &types.TerminateSession{SessionId: []string{key}}).Fault() == nil {
			ended++
		}
	}
	if len(keys) > 0 {
		log.Printf("control: terminated %d of %d sessions", ended, len(keys))
	}
	return ended
}
