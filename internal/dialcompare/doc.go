// Package dialcompare sets natx's Dial beside pion/ice on the same simulated
// internet (internal/vnetlab): for each NAT pair, two hosts each Open a
// natx Listener (an RFC 5780 STUN server and a TURN relay on the internet
// side), attach Peers through an in-memory signaling hub, and one Dials the
// other; icecompare.Connect runs pion/ice (host and server-reflexive
// candidates) on a world of the same shape, seed and deadline. The matrix
// records Dial's path kind (direct, mapped, punched, relayed) and time
// beside ice's result, and Missing/Slower name the cells that miss natx's
// target: every pair pion/ice connects, Dial connects; where ice connected
// directly, Dial's path is not relayed.
//
// RFCs: STUN, RFC 8489 and RFC 5780; TURN, RFC 8656; ICE (pion), RFC 8445.
package dialcompare
