package results

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
)

// WebhookSettings are the configuration of result delivery by webhook, as
// CheckWebhook checks it. The keys are named in its messages.
type WebhookSettings struct {
	// Listen is results.webhook_listen: the address the receiver binds
	// (":8080"); "" means no receiver in this process (results by polling,
	// or by a separate `idbatch serve`).
	Listen string
	// Path is results.webhook_path, e.g. /webhooks/idenfy.
	Path string
	// SigningKey is idenfy.webhook_signing_key; only its presence is
	// checked, it never appears in a message.
	SigningKey string
	// CallbackURL is idenfy.token.callbackUrl, the public URL iDenfy calls
	// when it is sent with each token; "" means the URL is set in iDenfy's
	// Dashboard, where idbatch cannot see it.
	CallbackURL string
}

// WebhookCheck is what CheckWebhook found when nothing is wrong.
type WebhookCheck struct {
	Detail   string   // one line: who receives the webhooks, where iDenfy sends them
	Warnings []string // acceptable, but worth a look (http on loopback, path rewritten by a proxy, …)
}

// CheckWebhook checks the webhook settings without sending anything:
//
//   - a callback URL, when set, is an absolute https URL with a host that
//     iDenfy can reach (iDenfy calls only HTTPS endpoints with a valid
//     certificate, idenfy-api.md §5.1): http is accepted only for a
//     loopback host (a local sandbox), with a warning; a private, link-local
//     or unspecified IP address, user:password and a scheme other than
//     http(s) are errors; a path other than webhook_path is a warning;
//   - with a receiver (Listen set): the path starts with "/", a signing key
//     is set (without one every webhook is refused), and Listen is a
//     host:port that can be bound now (it is listened on and closed at
//     once: a running `idbatch serve` or run on that port makes it fail);
//     a loopback-only listen address is a warning.
//
// The error joins every problem found, each naming its key.
func CheckWebhook(ctx context.Context, s WebhookSettings) (WebhookCheck, error) {
	var c WebhookCheck
	var errs []error
	bad := func(key, format string, a ...any) { errs = append(errs, fmt.Errorf(key+": "+format, a...)) }
	warn := func(format string, a ...any) { c.Warnings = append(c.Warnings, fmt.Sprintf(format, a...)) }

	target := "the callback URL set in iDenfy's Dashboard (not visible here)"
	if s.CallbackURL != "" {
		if shown, ok := checkCallbackURL(s, bad, warn); ok {
			target = shown
		}
	}

	if s.Listen == "" {
		c.Detail = "no receiver in this process (results.webhook_listen is empty): results by polling or from a separate idbatch serve"
		if s.CallbackURL != "" {
			warn("idenfy.token.callbackUrl is set but this process has no receiver: it must lead to a running idbatch serve")
		}
		return c, errors.Join(errs...)
	}
	if s.Path == "" || s.Path[0] != '/' {
		bad("results.webhook_path", "%q must start with /", s.Path)
	}
	if s.SigningKey == "" {
		bad("idenfy.webhook_signing_key", "is empty: every webhook would be refused (401); set it, or set results.webhook_listen to \"\" to rely on polling")
	}
	if host, _, err := net.SplitHostPort(s.Listen); err != nil {
		bad("results.webhook_listen", "%q is not host:port (e.g. :8080): %v", s.Listen, err)
	} else {
		var lc net.ListenConfig
		ln, err := lc.Listen(ctx, "tcp", s.Listen)
		if err != nil {
			bad("results.webhook_listen", "cannot listen on %s: %v (is an idbatch serve or run already using it?)", s.Listen, listenCause(err))
		} else {
			_ = ln.Close()
		}
		if isLoopbackHost(host) {
			warn("results.webhook_listen %s accepts local connections only: iDenfy reaches it only through a proxy or tunnel on this machine", s.Listen)
		}
	}
	c.Detail = fmt.Sprintf("receiver on %s%s (bindable), signing key set; iDenfy calls %s", s.Listen, s.Path, target)
	return c, errors.Join(errs...)
}

// checkCallbackURL checks s.CallbackURL; it returns the URL as it may be
// shown (userinfo removed, query and fragment redacted) and whether it is
// usable.
func checkCallbackURL(s WebhookSettings, bad func(key, format string, a ...any), warn func(format string, a ...any)) (string, bool) {
	const key = "idenfy.token.callbackUrl"
	u, err := url.Parse(s.CallbackURL)
	if err != nil {
		bad(key, "is not a URL") // url's message would quote it, userinfo included
		return "", false
	}
	ok := true
	if u.User != nil {
		bad(key, "must not contain user:password (it is sent to iDenfy with every token); use the Dashboard's custom headers or OAuth")
		u.User = nil
		ok = false
	}
	// A query or a fragment often carries a shared secret (?token=…): it is
	// never shown.
	if u.RawQuery != "" || u.ForceQuery {
		u.RawQuery = "REDACTED"
	}
	if u.Fragment != "" {
		u.Fragment, u.RawFragment = "REDACTED", ""
	}
	shown := u.String()
	host := u.Hostname()
	switch {
	case !u.IsAbs() || host == "":
		bad(key, "%q must be an absolute https:// URL with a host", shown)
		return shown, false
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopbackHost(host):
		warn("%s %s is http on a loopback host: accepted for a local sandbox only, iDenfy itself calls https only", key, shown)
	case u.Scheme == "http":
		bad(key, "%q must be https: iDenfy calls only HTTPS endpoints with a valid certificate", shown)
		ok = false
	default:
		bad(key, "%q has scheme %s; want https", shown, u.Scheme)
		return shown, false
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		switch {
		case ip.IsLoopback():
			if u.Scheme == "https" {
				warn("%s %s is a loopback address: only a local sandbox can call it", key, shown)
			}
		case ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsUnspecified() || ip.IsMulticast():
			bad(key, "%q is a private or non-routable address: iDenfy cannot reach it", shown)
			ok = false
		}
	} else if u.Scheme == "https" && isLoopbackHost(host) {
		warn("%s %s is a loopback host: only a local sandbox can call it", key, shown)
	}
	if u.Fragment != "" {
		warn("%s %s has a #fragment, which is never sent to a server", key, shown)
	}
	if s.Listen != "" && u.Path != s.Path {
		warn("%s path %q differs from results.webhook_path %q: right only if a proxy in front rewrites it", key, u.Path, s.Path)
	}
	return shown, ok
}

// isLoopbackHost reports whether host (a name or an IP, maybe in
// brackets) is this machine only. An empty host (":8080") is every
// interface, not loopback.
func isLoopbackHost(host string) bool {
	host = strings.Trim(host, "[]")
	if h := strings.ToLower(strings.TrimSuffix(host, ".")); h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// listenCause drops net.OpError's "listen tcp ADDR:" prefix (the address is
// in the message already).
func listenCause(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err
	}
	return err
}
