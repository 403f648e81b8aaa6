// Package holepunchtest provides an in-memory Signaler for tests of code
// that uses package holepunch, in the manner of net/http/httptest: a Hub
// that peers Join by ID, delivering messages with an optional delay and
// loss.
package holepunchtest
