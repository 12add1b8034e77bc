package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"html/template"
	"math/big"
	"net/http"
	"sync"
)

// site is the small web site the harness drives: a login with a password
// and a one-time code it "texts" to the user's phone, and a transfer that
// needs a human's approval. It is safe for concurrent use.
type site struct {
	user, password string

	// sendCode texts code to the user's phone. It is called before the
	// site answers the click on "log in", so the code always arrives
	// before the page that asks for it.
	sendCode func(ctx context.Context, user, code string) error
	// askApproval asks a human to approve the transfer, in the same way.
	askApproval func(ctx context.Context, what string) error

	mu    sync.Mutex        // protects codes
	codes map[string]string // session ID → the code texted to it, until it is tried once
}

// transferText is what the approval flow asks a human to approve.
const transferText = "Send €1,000 to Bob"

var page = template.Must(template.New("page").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>{{.Title}}</title>
<style>
body { font: 16px sans-serif; margin: 0; background: #eef1f5; }
main { margin: 28px auto; width: 380px; padding: 20px 24px; background: #fff; border-radius: 8px; }
h1 { font-size: 20px; margin: 0 0 12px; }
input, button { font: inherit; display: block; margin: 8px 0; padding: 4px 8px; }
.error { color: #b00020; }
.ok { color: #1b7f3b; }
</style></head>
<body><main>
<h1>{{.Title}}</h1>
{{if .Error}}<p id="error" class="error">{{.Error}}</p>{{end}}
{{if eq .Form "login"}}<form method="post" action="/login">
<input id="username" name="username" placeholder="username">
<input id="password" name="password" type="password" placeholder="password">
<button id="log-in">Log in</button>
</form>{{end}}
{{if eq .Form "code"}}<p>We texted a one-time code to your phone.</p>
<form method="post" action="/code">
<input id="code" name="code" inputmode="numeric" autocomplete="one-time-code" placeholder="one-time code">
<button id="verify">Verify</button>
</form>{{end}}
{{if eq .Form "transfer"}}<form method="post" action="/transfer">
<button id="request-approval">Ask for approval</button>
</form>{{end}}
{{if eq .Form "pending"}}<p id="pending">Waiting for your manager's approval.</p>
<form method="post" action="/transfer/finish">
<input id="reason" name="reason" placeholder="reason">
<button id="confirm" name="action" value="confirm">Send</button>
<button id="cancel" name="action" value="cancel">Cancel</button>
</form>{{end}}
{{if .Result}}<p id="result" class="{{.Class}}">{{.Result}}</p>{{end}}
</main></body></html>
`))

type view struct {
	Title, Form, Error, Result, Class string
}

// ServeHTTP serves the site's pages.
func (s *site) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method + " " + r.URL.Path {
	case "GET /", "GET /login":
		s.render(w, http.StatusOK, view{Title: "Log in", Form: "login"})
	case "POST /login":
		s.logIn(w, r)
	case "GET /code":
		s.render(w, http.StatusOK, view{Title: "One more step", Form: "code"})
	case "POST /code":
		s.checkCode(w, r)
	case "GET /transfer":
		s.render(w, http.StatusOK, view{Title: transferText, Form: "transfer"})
	case "POST /transfer":
		if err := s.askApproval(r.Context(), transferText); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		http.Redirect(w, r, "/transfer/pending", http.StatusSeeOther)
	case "GET /transfer/pending":
		s.render(w, http.StatusOK, view{Title: transferText, Form: "pending"})
	case "POST /transfer/finish":
		if r.FormValue("action") == "confirm" {
			s.render(w, http.StatusOK, view{Title: "Sent", Result: "Sent €1,000 to Bob (" + r.FormValue("reason") + ").", Class: "ok"})
		} else {
			s.render(w, http.StatusOK, view{Title: "Cancelled", Result: "Cancelled (" + r.FormValue("reason") + ").", Class: "error"})
		}
	default:
		http.NotFound(w, r)
	}
}

func (s *site) logIn(w http.ResponseWriter, r *http.Request) {
	if r.FormValue("username") != s.user || r.FormValue("password") != s.password {
		s.render(w, http.StatusUnauthorized, view{Title: "Log in", Form: "login", Error: "Wrong username or password."})
		return
	}
	session, code := rand.Text(), fmt.Sprintf("%06d", random(1e6))
	s.mu.Lock()
	if s.codes == nil {
		s.codes = make(map[string]string)
	}
	s.codes[session] = code
	s.mu.Unlock()
	if err := s.sendCode(r.Context(), s.user, code); err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: "session", Value: session, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/code", http.StatusSeeOther)
}

func (s *site) checkCode(w http.ResponseWriter, r *http.Request) {
	var want string
	var ok bool
	if c, err := r.Cookie("session"); err == nil {
		s.mu.Lock()
		want, ok = s.codes[c.Value]
		delete(s.codes, c.Value) // one try per code
		s.mu.Unlock()
	}
	if !ok || r.FormValue("code") != want {
		s.render(w, http.StatusUnauthorized, view{Title: "Log in", Form: "login", Error: "Wrong code. Log in again."})
		return
	}
	s.render(w, http.StatusOK, view{Title: "Welcome", Result: "Hello, " + s.user + "! You are logged in.", Class: "ok"})
}

func (s *site) render(w http.ResponseWriter, status int, v view) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = page.Execute(w, v) // an error here is the browser going away
}

// random returns a uniform random number in [0, n).
func random(n int64) int64 {
	v, err := rand.Int(rand.Reader, big.NewInt(n))
	if err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return v.Int64()
}
