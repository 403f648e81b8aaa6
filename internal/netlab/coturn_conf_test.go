package netlab

import (
	"os"
	"strings"
	"testing"
)

// TestCoturnConfFromDocs: the lab's coturn configuration is docs/coturn.conf
// with the lab's values in place (both authentication modes), and a document
// that lost a line the lab replaces is an error, not a silently different
// server.
func TestCoturnConfFromDocs(t *testing.T) {
	path, err := coturnConfFile()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, rest := range []bool{false, true} {
		conf, err := coturnConf(string(doc), CoturnOptions{REST: rest}, "/lab/cert.pem", "/lab/key.pem")
		if err != nil {
			t.Fatalf("REST %v: %v", rest, err)
		}
		want := []string{"listening-ip=" + ServerA.String(), "listening-ip=" + ServerB.String(), "realm=" + TURNRealm,
			"cert=/lab/cert.pem", "pkey=/lab/key.pem", "tls-listening-port=443", "alt-listening-port=3479"}
		if rest {
			want = append(want, "use-auth-secret", "static-auth-secret="+TURNSecret)
		} else {
			want = append(want, "lt-cred-mech", "user="+TURNUser+":"+TURNPass)
		}
		lines := "\n" + conf + "\n"
		for _, w := range want {
			if !strings.Contains(lines, "\n"+w+"\n") {
				t.Errorf("REST %v: no line %q", rest, w)
			}
		}
		for _, line := range strings.Split(conf, "\n") {
			if !strings.HasPrefix(line, "#") && (strings.Contains(line, "192.0.2.") || strings.Contains(line, "CHANGE")) {
				t.Errorf("REST %v: an example value is left: %q", rest, line)
			}
		}
		if !rest && strings.Contains(lines, "\nuse-auth-secret\n") {
			t.Error("long-term mode still has use-auth-secret")
		}
	}
	drifted := strings.Replace(string(doc), "relay-ip=192.0.2.10", "relay-ip=192.0.2.99", 1)
	if _, err := coturnConf(drifted, CoturnOptions{}, "c", "k"); err == nil || !strings.Contains(err.Error(), "relay-ip=192.0.2.10") {
		t.Errorf("a document without the relay-ip line: err %v, want it named", err)
	}
}
