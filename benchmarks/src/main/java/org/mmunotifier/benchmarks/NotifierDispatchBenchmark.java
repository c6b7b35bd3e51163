package org.mmunotifier.benchmarks;

import java.util.concurrent.TimeUnit;
import org.mmunotifier.mm.MmStruct;
import org.mmunotifier.mm.MmuNotifier;
import org.mmunotifier.mm.MmuNotifierRange;
import org.mmunotifier.mm.MmuNotifiers;
import org.mmunotifier.mm.PrimaryMmu;
import org.mmunotifier.srcu.Srcu;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.ThreadParams;

/**
 * Event dispatch: {@code invalidateRangeStart(range)} + {@code invalidateRangeEnd(range)} on one
 * mm, through the library and through the open-coded registry a Java developer would write
 * without it, with the raw SRCU read pair and the no-notifier event cost in the same run, at 1
 * and 2 threads (targets and results: docs/benchmarks.md).
 *
 * <p>Benchmarks (the suffix is the thread count, fixed by {@code @Threads}: <b>do not pass
 * {@code -t}</b>, it would override all of them). AverageTime; at 2 threads JMH reports each
 * thread's average time per operation, i.e. the per-thread cost.
 * <ul>
 *   <li>{@code startEnd1Thread}/{@code startEnd2Threads}: one start+end pair (ns per pair) on an
 *       mm with {@code notifiers} = 0, 1, 8, 64 notifiers, {@code impl} =
 *       <ul>
 *         <li>{@code LIBRARY}: notifiers obtained with {@link MmuNotifiers#get} (one ops instance
 *             each); {@link PrimaryMmu#invalidateRangeStart} + {@link PrimaryMmu#invalidateRangeEnd}.
 *             With 0 notifiers the mm never had a registration.</li>
 *         <li>{@code OPEN_CODED}: {@link NotifierOpenCodedRegistry}, a {@code ConcurrentHashMap}
 *             per mm plus a {@code ReentrantReadWriteLock} whose read lock start and end each
 *             hold while they iterate the map's values. With 0 notifiers the map is empty but the
 *             lock is still taken.</li>
 *       </ul>
 *       Every notifier's start and end callback increments one plain counter in a per-thread
 *       slot of the notifier ({@link NotifierBenchOps}); both implementations call the very same
 *       notifier objects. Each trial checks that every notifier got as many ends as starts, and
 *       at least one.</li>
 *   <li>{@code srcuReadPair1Thread}/{@code srcuReadPair2Threads}: the raw
 *       {@code Srcu.readLock()}/{@code readUnlock(idx)} pair on a fresh domain shared by the
 *       threads: the unit of the target "start+end ≤ two SRCU read pairs + 5 ns per
 *       notifier".</li>
 *   <li>{@code noNotifiersEvent1Thread}/{@code noNotifiersEvent2Threads}: ns <b>per event</b>
 *       ({@code @OperationsPerInvocation(2)}: a start and an end), {@code empty} =
 *       <ul>
 *         <li>{@code NEVER_REGISTERED}: an mm that never had a registration (the target case,
 *             ≤ 2 ns per event);</li>
 *         <li>{@code ALL_PUT}: an mm whose only notifier was put (and freed) before the trial:
 *             the subscription object stays, with an empty list (as the kernel's
 *             {@code mm->mmu_notifier_mm} does);</li>
 *         <li>{@code VOLATILE_LOAD_FLOOR}: two volatile loads of a shared non-null field and
 *             their null checks: what "one load and a null check per event" costs inside this
 *             harness.</li>
 *       </ul></li>
 * </ul>
 * Each thread has its own range (as each kernel invalidation has its own on-stack range); all
 * threads share the mm.
 *
 * <p>Run (24 forks, about 4-5 minutes with the defaults below; JSON for
 * {@code docs/benchmarks.md}):
 * <pre>
 * java -jar benchmarks/target/benchmarks.jar NotifierDispatchBenchmark \
 *     -f 1 -wi 3 -i 5 -w 1s -r 1s -prof gc -rf json -rff results/notifier-dispatch.json
 * </pre>
 * For publishing: {@code -f 3 -wi 5 -i 10 -w 2s -r 2s}. With {@code -prof gc} the library rows
 * must show {@code gc.alloc.rate.norm} ≈ 0 B/op (a start allocates nothing; the range keeps the
 * copy-on-write array it started with).
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED") // JDK 22+: the fence-free SRCU reader
public class NotifierDispatchBenchmark {

    /** The dispatcher under test. */
    public enum Impl { LIBRARY, OPEN_CODED }

    /** The mm without notifiers whose event cost is measured. */
    public enum Empty { NEVER_REGISTERED, ALL_PUT, VOLATILE_LOAD_FLOOR }

    // ================================================================ start + end

    /** The mm and its notifiers, shared by all threads of a trial. */
    @State(Scope.Benchmark)
    public static class Mm {
        @Param({"LIBRARY", "OPEN_CODED"})
        public Impl impl;

        @Param({"0", "1", "8", "64"})
        public int notifiers;

        MmStruct mm;
        NotifierBenchOps[] ops;
        NotifierBenchOps.Counting[] mns;
        NotifierOpenCodedRegistry registry;

        @Setup(Level.Trial)
        public void setUp() {
            mm = new MmStruct();
            ops = new NotifierBenchOps[notifiers];
            mns = new NotifierBenchOps.Counting[notifiers];
            if (impl == Impl.OPEN_CODED) {
                registry = new NotifierOpenCodedRegistry();
            }
            for (int i = 0; i < notifiers; i++) {
                ops[i] = new NotifierBenchOps(true);
                if (impl == Impl.LIBRARY) {
                    mns[i] = MmuNotifiers.get(ops[i], mm);
                } else {
                    mns[i] = new NotifierBenchOps.Counting(ops[i]);
                    registry.register(mns[i]);
                }
            }
            if (impl == Impl.LIBRARY && mm.hasNotifiers() != (notifiers > 0)) {
                throw new IllegalStateException("hasNotifiers() = " + mm.hasNotifiers() + " with " + notifiers
                        + " notifiers");
            }
            if (impl == Impl.OPEN_CODED && registry.size() != notifiers) {
                throw new IllegalStateException("open-coded registry holds " + registry.size() + " notifiers");
            }
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            for (NotifierBenchOps.Counting mn : mns) {
                long s = mn.starts();
                long e = mn.ends();
                if (s != e || s == 0) {
                    throw new IllegalStateException(mn + ": " + s + " starts, " + e + " ends");
                }
            }
            if (impl == Impl.LIBRARY) {
                for (NotifierBenchOps.Counting mn : mns) {
                    MmuNotifiers.put(mn);
                }
                MmuNotifiers.synchronize();
                for (NotifierBenchOps o : ops) {
                    if (o.allocated != 1 || o.freed != 1) {
                        throw new IllegalStateException("allocated " + o.allocated + ", freed " + o.freed);
                    }
                }
                if (mm.count() != 1) {
                    throw new IllegalStateException("mm count " + mm.count() + " after every free");
                }
            } else {
                for (NotifierBenchOps.Counting mn : mns) {
                    registry.unregister(mn);
                }
            }
            mm.mmput();
        }
    }

    /** This thread's range on the benchmark's mm. */
    @State(Scope.Thread)
    public static class MmRange {
        MmuNotifierRange range;

        @Setup(Level.Trial)
        public void setUp(Mm m, ThreadParams t) {
            range = NotifierBenchOps.range(m.mm, t.getThreadIndex());
        }
    }

    @Benchmark
    @Threads(1)
    public void startEnd1Thread(Mm m, MmRange r) {
        startEnd(m, r.range);
    }

    @Benchmark
    @Threads(2)
    public void startEnd2Threads(Mm m, MmRange r) {
        startEnd(m, r.range);
    }

    private static void startEnd(Mm m, MmuNotifierRange range) {
        switch (m.impl) {
            case LIBRARY:
                PrimaryMmu.invalidateRangeStart(range);
                PrimaryMmu.invalidateRangeEnd(range);
                return;
            case OPEN_CODED: {
                NotifierOpenCodedRegistry reg = m.registry;
                reg.invalidateRangeStart(range);
                reg.invalidateRangeEnd(range);
                return;
            }
            default:
                throw new AssertionError(m.impl);
        }
    }

    // ================================================================ SRCU read pair baseline

    /** A fresh SRCU domain, shared by all threads of the trial. */
    @State(Scope.Benchmark)
    public static class SrcuDomain {
        Srcu srcu;

        @Setup(Level.Trial)
        public void setUp() {
            srcu = new Srcu("bench-notifier-baseline");
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            long active = srcu.activeReaders();
            srcu.close();
            if (active != 0) {
                throw new IllegalStateException("unbalanced SRCU read pairs: " + active + " active");
            }
        }
    }

    @Benchmark
    @Threads(1)
    public int srcuReadPair1Thread(SrcuDomain d) {
        Srcu srcu = d.srcu;
        int idx = srcu.readLock();
        srcu.readUnlock(idx);
        return idx;
    }

    @Benchmark
    @Threads(2)
    public int srcuReadPair2Threads(SrcuDomain d) {
        Srcu srcu = d.srcu;
        int idx = srcu.readLock();
        srcu.readUnlock(idx);
        return idx;
    }

    // ================================================================ no notifiers, per event

    /** An mm without notifiers, shared by all threads of the trial. */
    @State(Scope.Benchmark)
    public static class EmptyMm {
        @Param({"NEVER_REGISTERED", "ALL_PUT", "VOLATILE_LOAD_FLOOR"})
        public Empty empty;

        MmStruct mm;
        /** Non-null; the floor's two loads. */
        volatile Object floorRef;

        @Setup(Level.Trial)
        public void setUp() {
            mm = new MmStruct();
            floorRef = mm;
            if (empty == Empty.ALL_PUT) {
                NotifierBenchOps ops = new NotifierBenchOps(true);
                MmuNotifiers.put(MmuNotifiers.get(ops, mm));
                MmuNotifiers.synchronize();
                if (ops.freed != 1) {
                    throw new IllegalStateException("the notifier was not freed");
                }
            }
            if (mm.hasNotifiers() != (empty == Empty.ALL_PUT)) {
                throw new IllegalStateException("hasNotifiers() = " + mm.hasNotifiers() + " for " + empty);
            }
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            mm.mmput();
        }
    }

    /** This thread's range on the empty mm. */
    @State(Scope.Thread)
    public static class EmptyRange {
        MmuNotifierRange range;

        @Setup(Level.Trial)
        public void setUp(EmptyMm m, ThreadParams t) {
            range = NotifierBenchOps.range(m.mm, t.getThreadIndex());
        }
    }

    @Benchmark
    @Threads(1)
    @OperationsPerInvocation(2)
    public boolean noNotifiersEvent1Thread(EmptyMm m, EmptyRange r) {
        return emptyEvents(m, r.range);
    }

    @Benchmark
    @Threads(2)
    @OperationsPerInvocation(2)
    public boolean noNotifiersEvent2Threads(EmptyMm m, EmptyRange r) {
        return emptyEvents(m, r.range);
    }

    private static boolean emptyEvents(EmptyMm m, MmuNotifierRange range) {
        if (m.empty == Empty.VOLATILE_LOAD_FLOOR) {
            return m.floorRef != null & m.floorRef != null;
        }
        PrimaryMmu.invalidateRangeStart(range);
        PrimaryMmu.invalidateRangeEnd(range);
        return true;
    }
}
