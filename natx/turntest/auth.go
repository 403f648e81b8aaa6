// This file holds the server's authentication: long-term users and
// REST-style credentials from a shared secret.

package turntest

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // the REST credential scheme uses HMAC-SHA1
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"
)

// RESTCredentials derives time-limited credentials valid until expiry, as a
// web service sharing secret with a TURN server would hand them out
// (coturn's use-auth-secret). user may be empty.
func RESTCredentials(secret, user string, expiry time.Time) (username, password string) {
	username = strconv.FormatInt(expiry.Unix(), 10)
	if user != "" {
		username += ":" + user
	}
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte(username))
	return username, base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// authenticate is the pion AuthHandler.
func (s *Server) authenticate(ra *turn.RequestAttributes) (string, []byte, bool) {
	if ra.Method == stun.MethodRefresh && s.refuseRefresh.Load() {
		s.count(func(st *Stats) { st.RefreshesRefused++ })
		return "", nil, false
	}
	if pass, ok := s.cfg.Users[ra.Username]; ok {
		return ra.Username, turn.GenerateAuthKey(ra.Username, ra.Realm, pass), true
	}
	if s.cfg.Secret != "" {
		expiry, user, _ := strings.Cut(ra.Username, ":")
		t, err := strconv.ParseInt(expiry, 10, 64)
		if err == nil && time.Now().Unix() <= t {
			_, pass := RESTCredentials(s.cfg.Secret, user, time.Unix(t, 0))
			if user == "" {
				user = ra.Username
			}
			return user, turn.GenerateAuthKey(ra.Username, ra.Realm, pass), true
		}
	}
	s.count(func(st *Stats) { st.AuthFailures++ })
	return "", nil, false
}
