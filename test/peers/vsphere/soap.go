package main

import (
	"bytes"
	"encoding/xml"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// callCounter counts the SOAP calls answered, by method, in total and per scope (a client that
// posts to /sdk/<scope> instead of /sdk, so one test can count its own calls while others run).
type callCounter struct {
	mu     sync.Mutex
	since  time.Time
	total  *callCounts
	scopes map[string]*callCounts
	// session keys (cookie values) seen per scope, "" = every scope, for POST /sessions/terminate
	sessions map[string]map[string]bool
}

type callCounts struct {
	Calls         int            `json:"calls"`
	Methods       map[string]int `json:"methods"`
	Faults        map[string]int `json:"faults"` // answers other than HTTP 200, by method
	Logins        int            `json:"logins"`
	LoginFailures int            `json:"loginFailures"`
}

func newCallCounts() *callCounts {
	return &callCounts{Methods: map[string]int{}, Faults: map[string]int{}}
}

func newCallCounter() *callCounter {
	return &callCounter{since: time.Now(), total: newCallCounts(), scopes: map[string]*callCounts{}, sessions: map[string]map[string]bool{}}
}

func (c *callCounts) add(method string, status int) {
	c.Calls++
	c.Methods[method]++
	if status != http.StatusOK {
		c.Faults[method]++
	}
	if strings.HasPrefix(method, "Login") {
		c.Logins++
		if status != http.StatusOK {
			c.LoginFailures++
		}
	}
}

func (c *callCounter) add(scope, method string, status int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.total.add(method, status)
	if scope != "" {
		s, ok := c.scopes[scope]
		if !ok {
			s = newCallCounts()
			c.scopes[scope] = s
		}
		s.add(method, status)
	}
}

// sawSession remembers a session key used (or handed out) through scope.
func (c *callCounter) sawSession(scope, key string) {
	if key == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range []string{"", scope} {
		if c.sessions[s] == nil {
			c.sessions[s] = map[string]bool{}
		}
		c.sessions[s][key] = true
	}
}

// takeSessions returns (and forgets) the session keys seen through scope ("" = any).
func (c *callCounter) takeSessions(scope string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var keys []string
	for key := range c.sessions[scope] {
		keys = append(keys, key)
		for _, set := range c.sessions {
			delete(set, key)
		}
	}
	return keys
}

// sessionKey is the vmware_soap_session cookie of a request, or of a Set-Cookie header.
func sessionKey(r *http.Request, header http.Header) string {
	for _, line := range header["Set-Cookie"] {
		pair := strings.TrimSpace(strings.SplitN(line, ";", 2)[0])
		if strings.HasPrefix(pair, sessionCookie+"=") {
			return strings.Trim(strings.TrimPrefix(pair, sessionCookie+"="), `"`)
		}
	}
	if r != nil {
		if c, err := r.Cookie(sessionCookie); err == nil {
			return c.Value
		}
	}
	return ""
}

const sessionCookie = "vmware_soap_session"

type callSnapshot struct {
	Since string `json:"since"`
	*callCounts
	Scopes map[string]*callCounts `json:"scopes,omitempty"`
}

// snapshot returns the counts (one scope's when scope is set) and, with reset, starts over.
func (c *callCounter) snapshot(scope string, reset bool) callSnapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := callSnapshot{Since: c.since.UTC().Format(time.RFC3339Nano), callCounts: c.total, Scopes: c.scopes}
	if scope != "" {
		out.Scopes = nil
		out.callCounts = c.scopes[scope]
		if out.callCounts == nil {
			out.callCounts = newCallCounts()
		}
	}
	if reset {
		if scope != "" {
			delete(c.scopes, scope)
		} else {
			c.since, c.total, c.scopes = time.Now(), newCallCounts(), map[string]*callCounts{}
		}
	}
	return out
}

// freezer holds SOAP requests (answering none) until a set time.
type freezer struct {
	mu    sync.Mutex
	until time.Time
	wake  chan struct{} // closed when the freeze is changed or lifted early
}

func newFreezer() *freezer { return &freezer{wake: make(chan struct{})} }

func (f *freezer) set(d time.Duration) time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.until = time.Now().Add(d)
	close(f.wake)
	f.wake = make(chan struct{})
	return f.until
}

func (f *freezer) frozenUntil() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.until
}

// wait blocks while frozen; false if the client went away meanwhile.
func (f *freezer) wait(r *http.Request) bool {
	for {
		f.mu.Lock()
		left, wake := time.Until(f.until), f.wake
		f.mu.Unlock()
		if left <= 0 {
			return true
		}
		timer := time.NewTimer(left)
		select {
		case <-r.Context().Done():
			timer.Stop()
			return false
		case <-wake:
			timer.Stop()
		case <-timer.C:
		}
	}
}

var (
	// The start tag of _this, with or without a namespace prefix.
	thisTag = regexp.MustCompile(`<(?:[A-Za-z_][\w.-]*:)?_this(?:\s[^>]*)?>\s*([^<\s]*)`)
	vmType  = regexp.MustCompile(`\btype=(["'])VirtualMachine(["'])`)
)

// soapMethod reads the method name of a vim25 request body (the first element in Body).
func soapMethod(body []byte) (method string) {
	d := xml.NewDecoder(bytes.NewReader(body))
	inBody := false
	for {
		tok, err := d.Token()
		if err != nil {
			return ""
		}
		if start, ok := tok.(xml.StartElement); ok {
			if inBody {
				return start.Name.Local
			}
			inBody = start.Name.Local == "Body"
		}
	}
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// buffered keeps a response so it can be rewritten before it is sent.
type buffered struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *buffered) Header() http.Header         { return b.header }
func (b *buffered) WriteHeader(code int)        { b.status = code }
func (b *buffered) Write(p []byte) (int, error) { return b.body.Write(p) }

// soapFront sits in front of the simulator's /sdk: it holds requests while frozen, answers the
// injected HTTP errors (outage.go), counts the answered calls, accepts /sdk/<scope>, and hands
// ShutdownGuest to the guest layer's stand-in by rewriting _this's type (the simulator still
// checks the session and encodes the answer).
func soapFront(next http.Handler, layer *guestLayer, counter *callCounter, freeze *freezer, faults *httpFaults) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scope := ""
		if strings.HasPrefix(r.URL.Path, "/sdk/") && r.URL.Path != "/sdk/vimServiceVersions.xml" {
			scope = strings.Trim(strings.TrimPrefix(r.URL.Path, "/sdk/"), "/")
			r.URL.Path = "/sdk"
		}
		if r.Method != http.MethodPost || r.URL.Path != "/sdk" {
			next.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
		_ = r.Body.Close()
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if !freeze.wait(r) {
			return
		}
		method := soapMethod(body)
		if faults.answer(w, method) {
			counter.add(scope, method, http.StatusServiceUnavailable)
			return
		}
		toGuest := false
		if method == "ShutdownGuest" {
			if m := thisTag.FindSubmatchIndex(body); m != nil && layer.ensureStandIn(string(body[m[2]:m[3]])) {
				tag := vmType.ReplaceAll(body[m[0]:m[1]], []byte("type=${1}"+guestType+"${2}"))
				body = append(append(append([]byte{}, body[:m[0]]...), tag...), body[m[1]:]...)
				toGuest = true
			}
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))

		counter.sawSession(scope, sessionKey(r, nil))
		if !toGuest {
			rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
			next.ServeHTTP(rec, r)
			counter.sawSession(scope, sessionKey(nil, rec.Header()))
			counter.add(scope, method, rec.status)
			return
		}
		// Faults such as NotAuthenticated name _this: show the VM's real type.
		buf := &buffered{header: http.Header{}, status: http.StatusOK}
		next.ServeHTTP(buf, r)
		out := bytes.ReplaceAll(buf.body.Bytes(), []byte(`type="`+guestType+`"`), []byte(`type="VirtualMachine"`))
		for k, v := range buf.header {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(out)))
		w.WriteHeader(buf.status)
		_, _ = w.Write(out)
		counter.add(scope, method, buf.status)
	})
}
