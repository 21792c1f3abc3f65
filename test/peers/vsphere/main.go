// Command graceful-vm-vcsim is the vSphere test peer of pulumi-graceful-vm: govmomi's vCenter
// (or, with -esx, standalone ESXi) simulator, built from Debian's golang-github-vmware-govmomi-dev
// in GOPATH mode, with a guest layer of ours (VMware Tools states, asynchronous and failing guest
// shutdowns, guest states), a SOAP call counter, many VMs on demand and a loopback control
// endpoint. Debian packages the simulator library but no vcsim command, hence this program.
// README.md documents the flags and the control API.
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vmware/govmomi/simulator"
)

type nameList []string

func (l *nameList) String() string { return strings.Join(*l, ",") }
func (l *nameList) Set(v string) error {
	for _, f := range strings.Split(v, ",") {
		if f = strings.TrimSpace(f); f != "" {
			*l = append(*l, f)
		}
	}
	return nil
}

type options struct {
	listen, username, password, certFile, envFile, envPrefix string
	useTLS, esx, trace                                       bool
	dc, cluster, clusterHost, host, vms, datastores          int
	fleet                                                    int
	fleetPrefix, fleetPower, methodDelay                     string
	def                                                      behaviour
	perVM                                                    map[string]behaviour
}

func parseFlags() options {
	var o options
	flag.StringVar(&o.listen, "l", "127.0.0.1:18988", "listen address (port 0 picks a free port)")
	flag.StringVar(&o.username, "username", "user", "login user name")
	flag.StringVar(&o.password, "password", "pass", "login password")
	flag.BoolVar(&o.useTLS, "tls", true, "HTTPS with a fresh self-signed certificate (false: plain HTTP)")
	flag.StringVar(&o.certFile, "cert-file", "", "write the server certificate (PEM) here")
	flag.StringVar(&o.envFile, "env-file", "", "write `export NAME=value` lines here once listening")
	flag.StringVar(&o.envPrefix, "env-prefix", "VCSIM_", "prefix of the exported variable names (e.g. VCSIM_ESX_)")
	flag.BoolVar(&o.esx, "esx", false, "simulate a standalone ESXi host (govmomi's ESX model) instead of vCenter")
	flag.BoolVar(&o.trace, "trace", false, "log every SOAP request and response")
	flag.IntVar(&o.dc, "dc", 1, "vCenter: datacenters")
	flag.IntVar(&o.cluster, "cluster", 1, "vCenter: clusters per datacenter")
	flag.IntVar(&o.clusterHost, "cluster-host", 3, "vCenter: hosts per cluster")
	flag.IntVar(&o.host, "host", 1, "vCenter: standalone hosts per datacenter")
	flag.IntVar(&o.vms, "vm", 2, "VMs per standalone host and per cluster (ESXi: on the host)")
	flag.IntVar(&o.datastores, "ds", 1, "vCenter: datastores")
	flag.IntVar(&o.fleet, "fleet", 0, "create this many more VMs at start (fleet-0000 ...), like POST /vcsim-ctl/fleet")
	flag.StringVar(&o.fleetPrefix, "fleet-prefix", "fleet", "name prefix of the -fleet VMs")
	flag.StringVar(&o.fleetPower, "fleet-power", "on", "power state of the -fleet VMs: on or off")
	flag.StringVar(&o.methodDelay, "method-delay", "", "extra latency per SOAP method in ms, e.g. PowerOffVM_Task:1500,Login:200")

	tools := flag.String("tools", toolsRunning, "default VMware Tools state: running, notRunning or notInstalled")
	delay := flag.Duration("shutdown-delay", time.Second, "default time from ShutdownGuest to poweredOff (0: during the call)")
	starting := flag.Duration("tools-starting", 0, "default time tools report guestToolsExecutingScripts after a power-on")
	var notRunning, notInstalled, hung, faulty nameList
	flag.Var(&notRunning, "tools-not-running", "VM names whose tools are installed but not running (comma-separated, repeatable)")
	flag.Var(&notInstalled, "tools-not-installed", "VM names without VMware Tools")
	flag.Var(&hung, "hung", "VM names whose guest accepts ShutdownGuest and never powers off")
	flag.Var(&faulty, "shutdown-fault", "VM names whose ShutdownGuest answers SystemError")
	flag.Parse()

	o.def = behaviour{
		Tools: *tools, Shutdown: shutdownOK, Delay: delay.String(), GuestState: guestAuto,
		ToolsStarting: starting.String(), ShutdownFault: faultNone,
	}
	if err := o.def.validate(); err != nil {
		log.Fatalf("flags: %v", err)
	}
	o.perVM = map[string]behaviour{}
	set := func(names nameList, change func(*behaviour)) {
		for _, name := range names {
			b, ok := o.perVM[name]
			if !ok {
				b = o.def
			}
			change(&b)
			o.perVM[name] = b
		}
	}
	set(notRunning, func(b *behaviour) { b.Tools = toolsNotRunning })
	set(notInstalled, func(b *behaviour) { b.Tools = toolsNotInstalled })
	set(hung, func(b *behaviour) { b.Shutdown = shutdownHang })
	set(faulty, func(b *behaviour) { b.Shutdown = shutdownFault })
	if o.fleetPower != "on" && o.fleetPower != "off" {
		log.Fatalf("flags: -fleet-power=%q: want on or off", o.fleetPower)
	}
	return o
}

func methodDelays(spec string) (map[string]int, error) {
	out := map[string]int{}
	var pairs nameList
	_ = pairs.Set(spec)
	for _, kv := range pairs {
		i := strings.LastIndex(kv, ":")
		ms, err := strconv.Atoi(kv[i+1:])
		if i <= 0 || err != nil || ms < 0 {
			return nil, fmt.Errorf("-method-delay %q: want Method:milliseconds", kv)
		}
		out[kv[:i]] = ms
	}
	return out, nil
}

func buildModel(o options) (*simulator.Model, error) {
	var model *simulator.Model
	if o.esx {
		model = simulator.ESX()
	} else {
		model = simulator.VPX()
		model.Datacenter, model.Cluster, model.ClusterHost = o.dc, o.cluster, o.clusterHost
		model.Host, model.Datastore = o.host, o.datastores
	}
	model.Machine = o.vms
	delays, err := methodDelays(o.methodDelay)
	if err != nil {
		return nil, err
	}
	if len(delays) > 0 {
		model.DelayConfig.MethodDelay = delays
	}
	simulator.Trace = o.trace
	if err := model.Create(); err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	return model, nil
}

func main() {
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	o := parseFlags()
	mode := "vpx"
	if o.esx {
		mode = "esx"
	}
	started := time.Now()
	model, err := buildModel(o)
	if err != nil {
		log.Fatal(err)
	}
	// The model keeps its datastores in $TMPDIR/govcsim-*: remove them on every way out.
	fatal := func(format string, a ...interface{}) {
		model.Remove()
		log.Fatalf(format, a...)
	}
	for name := range o.perVM {
		if vmNamed(name, "") == nil {
			log.Printf("warning: no VM is called %q", name)
		}
	}

	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		fatal("listen: %v", err)
	}
	hostPort := ln.Addr().String()

	// The simulator registers its handlers (/sdk, /about, /rest ...) while starting a server of
	// its own on a spare port; keep the handlers, close that server and serve them on ours.
	model.Service.RegisterEndpoints = true
	model.Service.Listen = &url.URL{Host: "127.0.0.1:0", User: url.UserPassword(o.username, o.password)}
	model.Service.NewServer().Close()

	scheme := "http"
	var tlsConfig *tls.Config
	if o.useTLS {
		scheme = "https"
		cert, certPEM, err := loopbackCertificate()
		if err != nil {
			fatal("certificate: %v", err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}}
		if o.certFile != "" {
			if err := os.WriteFile(o.certFile, certPEM, 0o644); err != nil {
				fatal("cert-file: %v", err)
			}
		}
	}
	// URLs the simulator hands out must name our address, not the closed one.
	simulator.Map.SessionManager().ServiceHostName = hostPort
	for _, setting := range simulator.Map.OptionManager().Setting {
		opt := setting.GetOptionValue()
		if v, ok := opt.Value.(string); ok && (opt.Key == "vcsim.server.url" || strings.HasSuffix(opt.Key, ".uri")) {
			if u, err := url.Parse(v); err == nil {
				u.Scheme, u.Host = scheme, hostPort
				opt.Value = u.String()
			}
		}
	}

	layer := newGuestLayer(o.def, o.perVM)
	simulator.Map.AddHandler(layer)
	ctl := &control{mode: mode, layer: layer, counter: newCallCounter(), freeze: newFreezer(), faults: &httpFaults{}}
	ctl.reset() // applies the command line's per-VM settings and publishes every VM's guest
	if ctl.inv, err = newInventory(model.Service); err != nil {
		fatal("%v", err)
	}
	if o.fleet > 0 {
		res, err := ctl.inv.ensureFleet(context.Background(), layer, o.fleetPrefix, o.fleet, o.fleetPower == "on")
		if err != nil {
			fatal("fleet: %v", err)
		}
		log.Printf("fleet: %d VMs %s..%s created in %d ms", res.Created, res.First, res.Last, res.Millis)
	}

	mux := http.NewServeMux()
	mux.Handle("/vcsim-ctl", ctl)
	mux.Handle("/vcsim-ctl/", ctl)
	mux.Handle("/", soapFront(model.Service.ServeMux, layer, ctl.counter, ctl.freeze, ctl.faults))
	srv := &http.Server{Handler: mux, TLSConfig: tlsConfig, ReadHeaderTimeout: 30 * time.Second}
	errc := make(chan error, 1)
	go func() {
		if tlsConfig != nil {
			errc <- srv.ServeTLS(ln, "", "")
		} else {
			errc <- srv.Serve(ln)
		}
	}()

	p := o.envPrefix
	lines := []string{
		"export " + p + "URL=" + fmt.Sprintf("%s://%s/sdk", scheme, hostPort),
		"export " + p + "USERNAME=" + o.username,
		"export " + p + "PASSWORD=" + o.password,
		"export " + p + "CTL_URL=" + fmt.Sprintf("%s://%s/vcsim-ctl", scheme, hostPort),
		"export " + p + "PID=" + strconv.Itoa(os.Getpid()),
	}
	if o.useTLS && o.certFile != "" {
		lines = append(lines, "export "+p+"CA_FILE="+o.certFile)
	}
	env := strings.Join(lines, "\n") + "\n"
	if o.envFile != "" {
		tmp := o.envFile + ".tmp"
		err := os.WriteFile(tmp, []byte(env), 0o600)
		if err == nil {
			err = os.Rename(tmp, o.envFile)
		}
		if err != nil {
			fatal("env-file: %v", err)
		}
	}
	log.Printf("%s simulator on %s://%s/sdk: %d VMs, ready in %d ms (default guest: tools=%s, shutdown delay %s)",
		mode, scheme, hostPort, len(simulator.Map.All("VirtualMachine")), time.Since(started).Milliseconds(), o.def.Tools, o.def.Delay)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	select {
	case s := <-sig:
		log.Printf("%s: stopping", s)
	case err := <-errc:
		log.Printf("server stopped: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
	model.Remove()
	if o.envFile != "" {
		_ = os.Remove(o.envFile)
	}
}
