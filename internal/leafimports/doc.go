// Package leafimports holds only a test: the one that keeps natx's four
// protocol packages (stunprobe, pmp, upnp, holepunch) independent of each
// other and of package natx, as the README promises.
package leafimports
