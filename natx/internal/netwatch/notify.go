// This file holds the OS notifier: a socket on which the kernel says that
// addresses, links or routes changed. Only the fact is used, never the
// message's content (the Watcher takes a snapshot), so nothing the kernel
// sends is parsed.

package netwatch

import (
	"context"
	"errors"
	"os"

	"github.com/nodeconn/natx/natx/internal/task"
)

// Notifier wakes a Watcher when the OS reports a network change.
type Notifier struct {
	f     *os.File
	ch    chan struct{}
	tasks *task.Group
}

// NewNotifier opens the OS's change notifications: a netlink socket on
// Linux, a route socket on macOS and the BSDs. Elsewhere it returns an
// error wrapping errors.ErrUnsupported (the Watcher then polls only).
func NewNotifier() (*Notifier, error) {
	f, err := openNotifySocket()
	if err != nil {
		return nil, err
	}
	n := &Notifier{f: f, ch: make(chan struct{}, 1), tasks: task.NewGroup(context.Background())}
	n.tasks.Go(n.read)
	return n, nil
}

// C is the channel to give Config.Notify: it holds at most one pending
// notification.
func (n *Notifier) C() <-chan struct{} { return n.ch }

// Close closes the socket and waits for its reader.
func (n *Notifier) Close() error {
	n.tasks.Stop()
	err := n.f.Close()
	n.tasks.Wait()
	return err
}

// read turns every message (and every overflow error: messages were
// lost, so something changed) into one pending notification.
func (n *Notifier) read(ctx context.Context) {
	buf := make([]byte, 16<<10)
	for {
		_, err := n.f.Read(buf)
		if ctx.Err() != nil || errors.Is(err, os.ErrClosed) {
			return
		}
		select {
		case n.ch <- struct{}{}:
		default:
		}
	}
}
