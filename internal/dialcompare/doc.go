// Package dialcompare sets natx's Dial beside pion/ice on the same simulated
// internet (internal/vnetlab): for each NAT pair, two hosts each Open a
// natx Listener (an RFC 5780 STUN server and a TURN relay on the internet
// side), attach Peers through an in-memory signaling hub, and one Dials the
// other; icecompare.Connect runs pion/ice (host and server-reflexive
// candidates) on a world of the same shape, seed and deadline. The matrix
// records Dial's path kind (direct, mapped, punched, relayed) and time
// beside ice's result; Missing names the cells that miss natx's target
// (every pair pion/ice connects, Dial connects, and not through the relay),
// Sooner counts the pairs Dial connected sooner.
//
// natx knows of each NAT only what its own Open measured (stunprobe on its
// socket), never the NAT type the world was built with. Times are
// comparable: Dial's clock starts before both sides' Open (classification,
// gathering, relay allocation included), pion/ice's before its gathering;
// Result.Open and Result.Dial split natx's.
//
// RFCs: STUN, RFC 8489 and RFC 5780; TURN, RFC 8656; ICE (pion), RFC 8445.
package dialcompare
