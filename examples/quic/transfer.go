package main

// The transfer on one QUIC stream: the sender writes a header (magic and
// length), the bytes, and their SHA-256; the receiver hashes what it reads,
// compares, and answers with a status, the count it read and its digest.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/quic-go/quic-go"
)

// magic starts every transfer.
var magic = [4]byte{'N', 'X', 'Q', '1'}

const (
	headerSize = 4 + 8
	replySize  = 1 + 8 + sha256.Size
	chunkSize  = 64 << 10
)

// Reply status bytes.
const (
	statusOK  = 1
	statusBad = 0
)

// errDigest means the receiver's digest differs from the sender's.
var errDigest = errors.New("SHA-256 mismatch")

// result is one side's account of a transfer.
type result struct {
	Bytes    int64
	Duration time.Duration
	OK       bool   // the digests matched
	Dropped  uint64 // datagrams the path failed to send (see natx.PeerPacketConn.Dropped)
}

// mbits is the throughput in megabits per second.
func (r result) mbits() float64 {
	if r.Duration <= 0 {
		return 0
	}
	return float64(r.Bytes) * 8 / r.Duration.Seconds() / 1e6
}

// payload is the deterministic, incompressible data of a transfer.
func payload(seed uint64) io.Reader {
	var s [32]byte
	binary.BigEndian.PutUint64(s[:], seed)
	return rand.NewChaCha8(s)
}

// send opens a stream on conn, sends n bytes and their digest, and waits
// for the receiver's answer. The duration runs from the stream's opening to
// the answer. timeout bounds the whole transfer.
func send(ctx context.Context, conn *quic.Conn, n int64, timeout time.Duration) (result, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	st, err := conn.OpenStreamSync(ctx)
	if err != nil {
		return result{}, fmt.Errorf("open stream: %w", err)
	}
	stop := context.AfterFunc(ctx, func() {
		st.CancelWrite(1)
		st.CancelRead(1)
	})
	defer stop()
	var hdr [headerSize]byte
	copy(hdr[:], magic[:])
	binary.BigEndian.PutUint64(hdr[4:], uint64(n))
	if _, err := st.Write(hdr[:]); err != nil {
		return result{}, fmt.Errorf("write: %w", err)
	}
	h := sha256.New()
	if _, err := io.CopyBuffer(io.MultiWriter(st, h), io.LimitReader(payload(uint64(n)), n), make([]byte, chunkSize)); err != nil {
		return result{}, fmt.Errorf("write: %w", err)
	}
	sum := h.Sum(nil)
	if _, err := st.Write(sum); err != nil {
		return result{}, fmt.Errorf("write: %w", err)
	}
	if err := st.Close(); err != nil {
		return result{}, fmt.Errorf("close stream: %w", err)
	}
	var reply [replySize]byte
	if _, err := io.ReadFull(st, reply[:]); err != nil {
		return result{}, fmt.Errorf("read answer: %w", err)
	}
	r := result{Bytes: n, Duration: time.Since(start)}
	if err := checkReply(reply[:], n, sum); err != nil {
		return r, err
	}
	r.OK = true
	return r, nil
}

// parseHeader parses a transfer's header: the magic, then the length, at
// most max.
func parseHeader(b []byte, max int64) (int64, error) {
	if len(b) != headerSize || !bytes.Equal(b[:4], magic[:]) {
		return 0, fmt.Errorf("bad header %x", b)
	}
	u := binary.BigEndian.Uint64(b[4:])
	if u > uint64(max) {
		return 0, fmt.Errorf("transfer of %d bytes refused: at most %d", u, max)
	}
	return int64(u), nil
}

// checkReply checks the receiver's answer to a transfer of n bytes with
// digest sum.
func checkReply(b []byte, n int64, sum []byte) error {
	if len(b) != replySize {
		return fmt.Errorf("answer of %d bytes, want %d", len(b), replySize)
	}
	got := binary.BigEndian.Uint64(b[1:9])
	if b[0] != statusOK || got != uint64(n) || !bytes.Equal(b[9:], sum) {
		return fmt.Errorf("%w: the receiver read %d bytes, status %d", errDigest, got, b[0])
	}
	return nil
}

// receive accepts one stream on conn, reads a transfer of at most max
// bytes, checks its digest and answers. The duration runs from the header
// to the digest. timeout bounds the whole transfer.
func receive(ctx context.Context, conn *quic.Conn, max int64, timeout time.Duration) (result, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	st, err := conn.AcceptStream(ctx)
	if err != nil {
		return result{}, fmt.Errorf("accept stream: %w", err)
	}
	stop := context.AfterFunc(ctx, func() {
		st.CancelWrite(1)
		st.CancelRead(1)
	})
	defer stop()
	var hdr [headerSize]byte
	if _, err := io.ReadFull(st, hdr[:]); err != nil {
		return result{}, fmt.Errorf("read header: %w", err)
	}
	n, err := parseHeader(hdr[:], max)
	if err != nil {
		st.CancelRead(2)
		return result{}, err
	}
	start := time.Now()
	h := sha256.New()
	got, err := io.CopyBuffer(h, io.LimitReader(st, n), make([]byte, chunkSize))
	r := result{Bytes: got}
	if err == nil && got < n {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return r, fmt.Errorf("read data: %w", err)
	}
	sum := make([]byte, sha256.Size)
	if _, err := io.ReadFull(st, sum); err != nil {
		return r, fmt.Errorf("read digest: %w", err)
	}
	r.Duration = time.Since(start)
	mine := h.Sum(nil)
	r.OK = bytes.Equal(sum, mine)
	if err := answer(st, r.OK, got, mine); err != nil {
		return r, err
	}
	if !r.OK {
		return r, errDigest
	}
	return r, nil
}

// answer writes the reply and closes the stream's sending side.
func answer(st *quic.Stream, ok bool, n int64, sum []byte) error {
	var reply [replySize]byte
	reply[0] = statusBad
	if ok {
		reply[0] = statusOK
	}
	binary.BigEndian.PutUint64(reply[1:9], uint64(n))
	copy(reply[9:], sum)
	if _, err := st.Write(reply[:]); err != nil {
		return fmt.Errorf("write answer: %w", err)
	}
	return st.Close()
}
