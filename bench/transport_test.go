//go:build linux

package bench

import (
	"errors"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/swimwheel/swimwheel/transport"
)

// Receive and send paths of package transport on loopback, each beside the
// per-packet net.UDPConn loop it replaces, in the same run. CPU is taken from
// getrusage: the whole process over the run, minus the sender's own thread
// (the sender goroutine is locked to it), divided by packets received. The
// kernel's loopback delivery runs on the sender's thread, so the receive
// figures are the cost of taking datagrams off the socket queue, which is
// what the two receivers differ in.

const (
	benchPayload = 64
	benchBatch   = 64
	// benchWindow bounds the datagrams in flight, well below what the 4 MiB
	// receive buffers hold, so that neither receiver loses any.
	benchWindow = 1024
)

type cpuTimes struct{ user, sys time.Duration }

func rusage(who int) cpuTimes {
	var ru unix.Rusage
	if err := unix.Getrusage(who, &ru); err != nil {
		panic(err) // RUSAGE_SELF and RUSAGE_THREAD exist on every Linux
	}
	return cpuTimes{time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())}
}

func (a cpuTimes) sub(b cpuTimes) cpuTimes { return cpuTimes{a.user - b.user, a.sys - b.sys} }

// receiver reads until it counted total datagrams or its conn is closed,
// publishing its count in got.
type receiver struct {
	addr  netip.AddrPort
	read  func(n int, got *atomic.Int64) // reads n datagrams, adding each call's count to got
	close func()
	calls func() uint64
}

func batchedReceiver(b *testing.B) receiver {
	c, err := transport.ListenConn("127.0.0.1:0", transport.Config{Batch: benchBatch})
	if err != nil {
		b.Fatal(err)
	}
	ms := make([]transport.Message, benchBatch)
	return receiver{
		addr: c.LocalAddr(),
		read: func(n int, got *atomic.Int64) {
			for done := 0; done < n; {
				k, err := c.ReadBatch(ms[:min(benchBatch, n-done)])
				if err != nil {
					return
				}
				done += k
				got.Add(int64(k))
			}
		},
		close: func() { c.Close() },
		calls: func() uint64 { return c.Stats().ReadCalls },
	}
}

func loopReceiver(b *testing.B) receiver {
	uc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	if err := uc.SetReadBuffer(4 << 20); err != nil {
		b.Fatal(err)
	}
	var calls atomic.Uint64
	buf := make([]byte, 2048)
	return receiver{
		addr: uc.LocalAddr().(*net.UDPAddr).AddrPort(),
		read: func(n int, got *atomic.Int64) {
			for range n {
				_, _, err := uc.ReadFromUDPAddrPort(buf)
				calls.Add(1)
				if err != nil {
					return
				}
				got.Add(1)
			}
		},
		close: func() { uc.Close() },
		calls: func() uint64 { return calls.Load() },
	}
}

func BenchmarkTransportReceive(b *testing.B) {
	for _, mode := range []string{"backlog", "stream"} {
		b.Run(mode+"/batched-recvmmsg", func(b *testing.B) { benchReceive(b, batchedReceiver(b), mode) })
		b.Run(mode+"/loop-ReadFromUDPAddrPort", func(b *testing.B) { benchReceive(b, loopReceiver(b), mode) })
	}
}

// benchReceive has a sendmmsg sender send b.N datagrams of 64 bytes to r and
// charges the process's CPU, less the sender thread's, to the datagrams
// received. Two arrival patterns:
//
//   - backlog: rounds of benchWindow datagrams sent while the receiver
//     waits, then read by it: a loaded server, whose queue is never empty
//     while it reads (one wake-up per round, amortised).
//   - stream: the sender keeps at most benchWindow datagrams ahead of the
//     receiver. Here the receiver is faster than the sender, so it empties
//     the queue and sleeps again every few datagrams: a lightly loaded
//     server, where wake-ups dominate.
func benchReceive(b *testing.B, r receiver, mode string) {
	defer r.close()
	snd, err := transport.ListenConn("127.0.0.1:0", transport.Config{Batch: benchBatch})
	if err != nil {
		b.Fatal(err)
	}
	defer snd.Close()
	out := make([]transport.Message, benchBatch)
	for i := range out {
		out[i] = transport.Message{Addr: r.addr, Data: make([]byte, benchPayload)}
	}
	send := func(n int) {
		for sent := 0; sent < n; {
			k, err := snd.WriteBatch(out[:min(benchBatch, n-sent)])
			if err != nil {
				b.Error(err)
				return
			}
			sent += k
		}
	}
	total := b.N
	var got atomic.Int64
	var senderCPU cpuTimes
	var wg sync.WaitGroup
	filled, drained := make(chan int), make(chan struct{})
	b.ReportAllocs()
	b.ResetTimer()
	start, t0 := rusage(unix.RUSAGE_SELF), time.Now()
	wg.Add(2)
	go func() {
		defer wg.Done()
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if mode == "stream" {
			r.read(total, &got)
			return
		}
		for n := range filled {
			r.read(n, &got)
			drained <- struct{}{}
		}
	}()
	go func() {
		defer wg.Done()
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		own := rusage(unix.RUSAGE_THREAD)
		defer func() { senderCPU = rusage(unix.RUSAGE_THREAD).sub(own) }()
		if mode == "backlog" {
			for sent := 0; sent < total; {
				k := min(benchWindow, total-sent)
				send(k)
				sent += k
				filled <- k
				<-drained
			}
			close(filled)
			return
		}
		for sent := 0; sent < total; {
			for int64(sent)-got.Load() > benchWindow-benchBatch {
				// Spin on this thread: its CPU is subtracted.
			}
			k := min(benchBatch, total-sent)
			send(k)
			sent += k
		}
		// Wait for the tail; if datagrams were lost after all, give up
		// once nothing arrives for a second and unblock the receiver.
		last, since := got.Load(), time.Now()
		for got.Load() < int64(total) {
			if g := got.Load(); g != last {
				last, since = g, time.Now()
			} else if time.Since(since) > time.Second {
				r.close()
				break
			}
		}
	}()
	wg.Wait()
	elapsed := time.Since(t0)
	cpu := rusage(unix.RUSAGE_SELF).sub(start).sub(senderCPU)
	b.StopTimer()
	n := float64(got.Load())
	if n == 0 {
		b.Fatal("nothing received")
	}
	b.ReportMetric(float64(cpu.user.Nanoseconds())/n, "user-ns/pkt")
	b.ReportMetric(float64(cpu.sys.Nanoseconds())/n, "sys-ns/pkt")
	b.ReportMetric(float64((cpu.user+cpu.sys).Nanoseconds())/n, "cpu-ns/pkt")
	b.ReportMetric(float64((senderCPU.user+senderCPU.sys).Nanoseconds())/n, "sender-ns/pkt")
	b.ReportMetric(n/elapsed.Seconds(), "pkts/s")
	b.ReportMetric(n/float64(r.calls()), "pkts/call")
	b.ReportMetric(float64(total)-n, "lost")
}

// sink is a socket nobody reads, with the smallest buffer: the kernel drops
// what it cannot queue, so both senders pay the same loopback delivery.
func sink(b *testing.B) *transport.Conn {
	c, err := transport.ListenConn("127.0.0.1:0", transport.Config{ReadBuffer: 1})
	if err != nil {
		b.Fatal(err)
	}
	return c
}

func BenchmarkTransportSend(b *testing.B) {
	b.Run("batched-sendmmsg", func(b *testing.B) {
		dst := sink(b)
		defer dst.Close()
		c, err := transport.ListenConn("127.0.0.1:0", transport.Config{Batch: benchBatch})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		out := make([]transport.Message, benchBatch)
		for i := range out {
			out[i] = transport.Message{Addr: dst.LocalAddr(), Data: make([]byte, benchPayload)}
		}
		benchSend(b, func(k int) error {
			_, err := c.WriteBatch(out[:k])
			return err
		})
	})
	b.Run("loop-WriteToUDPAddrPort", func(b *testing.B) {
		dst := sink(b)
		defer dst.Close()
		uc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			b.Fatal(err)
		}
		defer uc.Close()
		data, to := make([]byte, benchPayload), dst.LocalAddr()
		benchSend(b, func(k int) error {
			for range k {
				if _, err := uc.WriteToUDPAddrPort(data, to); err != nil {
					return err
				}
			}
			return nil
		})
	})
}

// benchSend sends b.N datagrams in calls of send(k <= benchBatch) on one
// locked thread and charges that thread's CPU to them.
func benchSend(b *testing.B, send func(k int) error) {
	b.ReportAllocs()
	b.ResetTimer()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	start, t0 := rusage(unix.RUSAGE_THREAD), time.Now()
	for sent := 0; sent < b.N; {
		k := min(benchBatch, b.N-sent)
		if err := send(k); err != nil && !errors.Is(err, net.ErrClosed) {
			b.Fatal(err)
		}
		sent += k
	}
	cpu, elapsed := rusage(unix.RUSAGE_THREAD).sub(start), time.Since(t0)
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(float64(cpu.user.Nanoseconds())/n, "user-ns/pkt")
	b.ReportMetric(float64(cpu.sys.Nanoseconds())/n, "sys-ns/pkt")
	b.ReportMetric(float64((cpu.user+cpu.sys).Nanoseconds())/n, "cpu-ns/pkt")
	b.ReportMetric(n/elapsed.Seconds(), "pkts/s")
}
