package main

import (
	"fmt"
	"net/url"
	"strconv"
	"time"
)

// behaviour is what the simulated guest of one VM does. The zero value is not valid: start from
// the defaults built from the command line (see main.go) and change fields from there.
type behaviour struct {
	// Tools: running | notRunning | notInstalled.
	Tools string `json:"tools"`
	// Shutdown: ok (powers off after Delay) | hang (accepts, never powers off) | fault (SystemError).
	Shutdown string `json:"shutdown"`
	// Delay: ShutdownGuest to poweredOff when Shutdown is ok (a Go duration; 0s = during the call).
	Delay string `json:"delay"`
	// GuestState: auto (follows tools and shutdown) or a fixed guest.guestState while powered on:
	// running | shuttingDown | notRunning.
	GuestState string `json:"guestState"`
	// ToolsStarting: after each power-on (and at once when set on a running VM) tools report
	// guestToolsExecutingScripts for this long (a Go duration; 0s = never).
	ToolsStarting string `json:"toolsStarting"`
	// ShutdownFault: none | TaskInProgress | InvalidState | SystemError, answered by the next
	// ShutdownFaultCount ShutdownGuest calls before the Shutdown behaviour applies.
	ShutdownFault      string `json:"shutdownFault"`
	ShutdownFaultCount int    `json:"shutdownFaultCount"`
}

const (
	toolsRunning      = "running"
	toolsNotRunning   = "notRunning"
	toolsNotInstalled = "notInstalled"

	shutdownOK    = "ok"
	shutdownHang  = "hang"
	shutdownFault = "fault"

	guestAuto = "auto"

	faultNone = "none"
)

func oneOf(field, value string, allowed ...string) error {
	for _, a := range allowed {
		if value == a {
			return nil
		}
	}
	return fmt.Errorf("%s=%q: want one of %v", field, value, allowed)
}

func parseDuration(field, value string) (time.Duration, error) {
	d, err := time.ParseDuration(value)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%s=%q: want a Go duration >= 0 such as 0s, 500ms, 3s", field, value)
	}
	return d, nil
}

func (b behaviour) validate() error {
	if err := oneOf("tools", b.Tools, toolsRunning, toolsNotRunning, toolsNotInstalled); err != nil {
		return err
	}
	if err := oneOf("shutdown", b.Shutdown, shutdownOK, shutdownHang, shutdownFault); err != nil {
		return err
	}
	if _, err := parseDuration("delay", b.Delay); err != nil {
		return err
	}
	if err := oneOf("guestState", b.GuestState, guestAuto, "running", "shuttingDown", "notRunning"); err != nil {
		return err
	}
	if _, err := parseDuration("toolsStarting", b.ToolsStarting); err != nil {
		return err
	}
	if err := oneOf("shutdownFault", b.ShutdownFault, faultNone, "TaskInProgress", "InvalidState", "SystemError"); err != nil {
		return err
	}
	if b.ShutdownFaultCount < 0 {
		return fmt.Errorf("shutdownFaultCount=%d: want >= 0", b.ShutdownFaultCount)
	}
	return nil
}

func (b behaviour) delay() time.Duration {
	d, _ := time.ParseDuration(b.Delay)
	return d
}

func (b behaviour) toolsStarting() time.Duration {
	d, _ := time.ParseDuration(b.ToolsStarting)
	return d
}

// withForm returns b changed by the query parameters that are present; changedFaults says
// whether the transient-fault fields were given (which re-arms the fault counter).
func (b behaviour) withForm(form url.Values) (next behaviour, changedFaults bool, err error) {
	next = b
	set := func(key string, field *string) {
		if v := form.Get(key); v != "" {
			*field = v
		}
	}
	set("tools", &next.Tools)
	set("shutdown", &next.Shutdown)
	set("delay", &next.Delay)
	set("guestState", &next.GuestState)
	set("toolsStarting", &next.ToolsStarting)
	if v := form.Get("shutdownFault"); v != "" {
		next.ShutdownFault = v
		changedFaults = true
		if form.Get("shutdownFaultCount") == "" && v != faultNone {
			next.ShutdownFaultCount = 1
		}
	}
	if v := form.Get("shutdownFaultCount"); v != "" {
		n, convErr := strconv.Atoi(v)
		if convErr != nil {
			return b, false, fmt.Errorf("shutdownFaultCount=%q: want a whole number", v)
		}
		next.ShutdownFaultCount = n
		changedFaults = true
	}
	if next.ShutdownFault == faultNone {
		next.ShutdownFaultCount = 0
	}
	return next, changedFaults, next.validate()
}
