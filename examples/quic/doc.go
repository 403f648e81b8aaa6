// Command quic carries a QUIC connection (quic-go, RFC 9000, RFC 9001) between
// two nodes behind NATs, over the path natx opened between them: punched
// through both NATs when it can, through a TURN relay (RFC 8656) when it
// cannot. One node serves; the other dials it by its ID through a
// rendezvous server, sends N bytes (10 MB by default) on one QUIC stream with
// their SHA-256, and waits for the server to check the digest and answer.
//
//	quic -id b -stun 7.0.0.10:3478 -turn turn:user:pass@7.0.0.10 -rendezvous 7.0.0.11:7000
//	quic -id a -stun 7.0.0.10:3478 -turn turn:user:pass@7.0.0.10 -rendezvous 7.0.0.11:7000 -dial b -bytes 10000000
//
// It prints one JSON line per event: ready (reachability, addresses and
// peer_id), connected (the natx path: punched, relayed, direct), quic (the handshake,
// the server certificate's SHA-256 fingerprint), transfer (bytes, seconds,
// mbit_s, sha256_ok), path (a change of the natx path under QUIC), error and
// closed. The dialing side exits after its transfer (status 0 when the
// server confirmed the digest); the serving side runs until SIGINT/SIGTERM.
//
// -id and -rendezvous are required. -stun takes a host name or address, port
// 3478 unless it names one (repeat or comma-separate for several). -turn
// takes node's TURN URLs, and -turn-ca FILE and -turn-name NAME the roots
// (PEM) and the name of turns: servers' certificates, as node does. -h
// prints the usage on stderr and exits 0; every error is one "error" line
// on stdout (nothing on stderr), with exit status 2 for a bad command line.
//
// # Why an adapter over the PeerConn, not QUIC on the Listener
//
// natx.Listener is a net.PacketConn too, and quic-go could run on it
// directly. But then QUIC would see the peer's transport address: the
// punched address, or the relay's. When natx changes the route (a relayed
// path upgraded to a punched one, a lost punched path repaired through the
// relay), QUIC would see a new address and have to validate a migration
// (RFC 9000 section 9), and a relayed path would not work at all unless the
// relay were the Listener's own. A natx.PeerConn hides all that: it is one
// datagram path to one peer, named by a stable address (the peer's ID),
// which natx moves between routes without loss of identity. So this program
// presents each PeerConn to quic-go as a single-peer net.PacketConn
// (natx.PeerPacketConn, from PeerConn.PacketConn): ReadFrom returns the PeerConn's datagrams with its
// RemoteAddr, WriteTo writes to it, deadlines pass through. quic-go gets one
// quic.Transport per peer.
//
// # Datagram sizes
//
// A PeerConn adds 28 bytes of framing to each datagram, and a relayed path
// adds TURN's (4 bytes of ChannelData, 36 for a Send indication). quic-go's
// path MTU discovery needs a socket it can set the Don't Fragment bit on,
// which a PeerConn is not, so it is off, and QUIC packets stay at
// quic.Config.InitialPacketSize: 1200 bytes here, the least QUIC allows,
// which with every header above still fits the 1280-byte minimum IPv6 MTU.
// ECN and GSO need a *net.UDPConn and are off too.
//
// # TLS, bound to the peers' keys
//
// Each node has an ed25519 key: -key FILE (PEM, made on first run with mode
// 0600), or a new key for each run without it. The node registers with the
// rendezvous server as the key's peer ID, with -id bound to the key as its
// name, and runs natx with it (natx.PeerConfig.Identity); -dial takes a
// peer ID or a name, which the server resolves to the peer ID holding it.
// The ready and listening lines carry peer_id; the peer of the other lines
// is the other node's peer ID.
//
// Each side's TLS 1.3 certificate is made at start, self-signed with that
// same ed25519 key, and the listening line prints its SHA-256 fingerprint.
// Each side asks for the other's certificate and fails the handshake unless
// its key is the key natx authenticated for the PeerConn: PeerConn.RemoteKey,
// the key whose holder answered the checks of a direct path, or, while only a
// relay carries the PeerConn (natx does not authenticate the relay's
// set-up), the key the peer ID names. TLS's own signature of the handshake
// then proves the holder of that key is at the other end. The error says
// "peer certificate key is not the peer's authenticated key" with both peer
// IDs. So QUIC is authenticated end to end: neither the rendezvous server,
// nor the TURN relay, nor anything on the path can read the stream or stand
// in for the peer. What it does not prove: that a name given to -dial
// belongs to the person you think (the server binds names first come,
// first served; dial a peer ID to be sure), and what the peer does with the
// data. -pin FINGERPRINT still checks the server's certificate exactly (it
// changes each run: the certificate is new, the key is not).
package main
