package progtest

import (
	"bytes"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/nodeconn/natx/natx/turntest"
)

// Buffer is a bytes.Buffer safe for a program's goroutines.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Secret is the TURN password of SecretTURNCases.
const Secret = "S3cretPassw0rd"

// SecretCase is one way of writing a TURN server with Secret in it.
type SecretCase struct {
	Name, Turn string
	// Refused: the program must refuse it on its command line (status 2).
	Refused bool
	// Allocates: the relay allocation succeeds.
	Allocates bool
}

// SecretTURNCases starts a TURN server whose user natx has the password
// Secret, and returns every form of -turn the programs' secret tests run:
// allocated, wrong password, nothing listening, and forms the parser
// refuses (a password without a user, a password split by a comma, a
// query parameter, a bad port).
func SecretTURNCases(t *testing.T) []SecretCase {
	t.Helper()
	turn := turntest.NewServer(t, turntest.Config{Users: map[string]string{"natx": Secret}})
	closed, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	nobody := closed.LocalAddr().String()
	_ = closed.Close()
	srv := turn.Addr().String()
	return []SecretCase{
		{Name: "allocated", Turn: "turn:natx:" + Secret + "@" + srv, Allocates: true},
		{Name: "wrong-password", Turn: "turn:natx:" + Secret + "x@" + srv},
		{Name: "nothing-listening", Turn: "turn:natx:" + Secret + "@" + nobody},
		{Name: "password-without-user", Turn: "turn:" + Secret + "@" + srv, Refused: true},
		{Name: "comma-in-password", Turn: "turn:natx:" + Secret[:7] + "," + Secret[7:] + "@" + srv, Refused: true},
		{Name: "query-parameter", Turn: "turn:natx:p@" + srv + "?password=" + Secret, Refused: true},
		{Name: "bad-port", Turn: "turn:natx:" + Secret + "@127.0.0.1:99999", Refused: true},
	}
}

// NoSecret fails t if output shows Secret or either half of it (a
// password split by a comma), or if a refused case printed no -turn
// error.
func NoSecret(t *testing.T, c SecretCase, output string) {
	t.Helper()
	if c.Refused && !strings.Contains(output, "-turn") {
		t.Errorf("no -turn error printed:\n%s", output)
	}
	for _, s := range []string{Secret, Secret[:7], Secret[7:]} {
		if strings.Contains(output, s) {
			t.Errorf("%q printed:\n%s", s, output)
		}
	}
}
