package org.mmunotifier.benchmarks;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import org.mmunotifier.mm.MmStruct;
import org.mmunotifier.mm.MmuNotifier;
import org.mmunotifier.mm.MmuNotifiers;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;

/**
 * {@code MmuNotifiers.get(ops, mm)} + {@code MmuNotifiers.put(mn)} when the put is <b>not</b> the
 * last: the trial's set-up holds one reference, so every measured pair finds the linked
 * notifier, adds a user and drops it, and nothing is allocated, unlinked or freed (target:
 * ≤ 100 ns per pair; docs/benchmarks.md). Each trial checks that exactly one notifier was
 * allocated and, after its own final put and {@code synchronize()}, freed once.
 *
 * <p>Benchmarks (AverageTime, ns per get+put; suffix = thread count, fixed: <b>do not pass
 * {@code -t}</b>):
 * <ul>
 *   <li>{@code getPut1Thread}: one thread.</li>
 *   <li>{@code getPut2Threads}: two threads on the same (ops, mm), the get/put use case (one
 *       subscription shared by many objects of a driver): they contend on that mm's mmap write
 *       lock and its subscription monitor.</li>
 *   <li>{@code getPut2ThreadsOwnMm}: two threads, each with its own mm and ops: what is left
 *       without contention (the library has no global state on this path).</li>
 *   <li>{@code lockFloor1Thread}/{@code lockFloor2Threads}: the locks get+put cannot avoid, on
 *       shared locks, without the library: a {@code ReentrantReadWriteLock} write lock/unlock
 *       (get takes the mmap write lock) with a {@code synchronized} block inside (get's
 *       {@code findGet} under the subscription monitor), then one more {@code synchronized}
 *       block (put). A reference for the analysis, not a target.</li>
 * </ul>
 *
 * <p>Run (5 forks, about 1 minute):
 * <pre>
 * java -jar benchmarks/target/benchmarks.jar NotifierGetPutBenchmark \
 *     -f 1 -wi 3 -i 5 -w 1s -r 1s -prof gc -rf json -rff results/notifier-getput.json
 * </pre>
 * For publishing: {@code -f 3 -wi 5 -i 10 -w 2s -r 2s}. {@code gc.alloc.rate.norm} must be
 * ≈ 0 B/op on the get+put rows (apart from the {@code ReentrantReadWriteLock}'s per-thread hold
 * counter when two threads share one lock).
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED") // JDK 22+: the fence-free SRCU reader
public class NotifierGetPutBenchmark {

    /** An mm with one notifier of one driver, its first reference held for the whole trial. */
    @State(Scope.Benchmark)
    public static class Shared {
        MmStruct mm;
        NotifierBenchOps ops;
        NotifierBenchOps.Counting held;

        @Setup(Level.Trial)
        public void setUp() {
            mm = new MmStruct();
            ops = new NotifierBenchOps(false);
            held = MmuNotifiers.get(ops, mm);
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            checkAndRelease(mm, ops, held);
        }
    }

    /** As {@link Shared}, one per thread. */
    @State(Scope.Thread)
    public static class Own {
        MmStruct mm;
        NotifierBenchOps ops;
        NotifierBenchOps.Counting held;

        @Setup(Level.Trial)
        public void setUp() {
            mm = new MmStruct();
            ops = new NotifierBenchOps(false);
            held = MmuNotifiers.get(ops, mm);
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            checkAndRelease(mm, ops, held);
        }
    }

    static void checkAndRelease(MmStruct mm, NotifierBenchOps ops, NotifierBenchOps.Counting held) {
        if (ops.allocated != 1 || ops.freed != 0) {
            throw new IllegalStateException("a non-last put freed the notifier: allocated " + ops.allocated
                    + ", freed " + ops.freed);
        }
        MmuNotifiers.put(held);
        MmuNotifiers.synchronize();
        if (ops.freed != 1 || mm.count() != 1) {
            throw new IllegalStateException("after the last put: freed " + ops.freed + ", mm count " + mm.count());
        }
        mm.mmput();
    }

    @Benchmark
    @Threads(1)
    public MmuNotifier getPut1Thread(Shared s) {
        return getPut(s.ops, s.mm);
    }

    @Benchmark
    @Threads(2)
    public MmuNotifier getPut2Threads(Shared s) {
        return getPut(s.ops, s.mm);
    }

    @Benchmark
    @Threads(2)
    public MmuNotifier getPut2ThreadsOwnMm(Own o) {
        return getPut(o.ops, o.mm);
    }

    private static MmuNotifier getPut(NotifierBenchOps ops, MmStruct mm) {
        NotifierBenchOps.Counting mn = MmuNotifiers.get(ops, mm);
        MmuNotifiers.put(mn);
        return mn;
    }

    // ================================================================ lock floor

    /** The two locks of get+put, shared by the threads of the trial. */
    @State(Scope.Benchmark)
    public static class Locks {
        final ReentrantReadWriteLock.WriteLock mmapWrite = new ReentrantReadWriteLock().writeLock();
        final Object monitor = new Object();
        /** Guarded by monitor. */
        int users;
    }

    @Benchmark
    @Threads(1)
    public int lockFloor1Thread(Locks l) {
        return lockFloor(l);
    }

    @Benchmark
    @Threads(2)
    public int lockFloor2Threads(Locks l) {
        return lockFloor(l);
    }

    private static int lockFloor(Locks l) {
        int u;
        l.mmapWrite.lock();
        try {
            synchronized (l.monitor) {
                u = ++l.users;
            }
        } finally {
            l.mmapWrite.unlock();
        }
        synchronized (l.monitor) {
            l.users--;
        }
        return u;
    }
}
