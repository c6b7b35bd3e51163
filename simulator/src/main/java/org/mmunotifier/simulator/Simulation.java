package org.mmunotifier.simulator;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.concurrent.locks.LockSupport;
import org.mmunotifier.mm.MmStruct;
import org.mmunotifier.mm.MmuNotifier;
import org.mmunotifier.mm.MmuNotifiers;
import org.mmunotifier.simulator.check.Checker;
import org.mmunotifier.simulator.check.Inject;
import org.mmunotifier.simulator.driver.AccelDriver;
import org.mmunotifier.simulator.driver.DmirrorDriver;
import org.mmunotifier.simulator.driver.GpuMirrorDriver;
import org.mmunotifier.simulator.driver.Handle;
import org.mmunotifier.simulator.driver.IommuTlbDriver;
import org.mmunotifier.simulator.driver.KvmShadowDriver;
import org.mmunotifier.simulator.driver.SecondaryMmu;
import org.mmunotifier.simulator.kernel.FrameAllocator;
import org.mmunotifier.simulator.kernel.Kernel;
import org.mmunotifier.simulator.kernel.Process;
import org.mmunotifier.simulator.kernel.VmaList;

/**
 * One run: worker threads pick random events (CPU faults, secondary accesses, mmap, munmap,
 * mprotect, migration, mremap, {@code MADV_DONTNEED}, page_mkclean, soft-dirty clearing, fork,
 * exit, OOM kill, KSM merges if enabled, device attach and detach) on random processes; a kswapd thread ages and
 * reclaims without the mmap lock; the accelerator driver unloads half-way; at the end
 * every process exits, every driver's references are dropped, {@code synchronize()} runs, and the
 * end-of-run invariants are checked.
 *
 * <p>Determinism: with one worker thread, reclaim runs inline (direct reclaim) instead of on the
 * kswapd thread, the unload happens at a fixed event when the run is bounded by {@code events},
 * and all randomness comes from the seed, so two runs with the same seed make the same events.
 */
final class Simulation {
    /** A detach event that picks a VM destroys it one time in this many (VMs live long). */
    private static final int LONG_LIVED_ODDS = 16;
    /** How long after the deadline a worker that is still running counts as stuck. */
    private static final int STUCK_SECONDS = 60;

    private final SimConfig config;
    private final Checker checker;
    private final FrameAllocator frames;
    private final Kernel kernel;
    private final List<SecondaryMmu> drivers = new ArrayList<>();
    private final AccelDriver accel;
    private final AtomicReferenceArray<Process> slots;
    private final AtomicInteger live = new AtomicInteger();
    /** The events a worker picks from ({@link Op#events()}), and their cumulative weights. */
    private final Op[] events = Op.events().toArray(new Op[0]);
    private final int[] cumulative;
    private final int totalWeight;

    private volatile boolean stop;
    /** Set by {@link #interrupt()} (Ctrl-C): the run stops early and says so. */
    private volatile boolean interrupted;
    private volatile long unloadAtNanos;
    private final AtomicLongArray progress;
    /** Primary events made so far by each worker (and kswapd, last), published every few hundred. */
    private final AtomicLongArray primaryProgress;
    private final Timeline timeline = new Timeline();
    private final List<Thread> threads = new ArrayList<>();

    Simulation(SimConfig config) {
        this.config = config;
        this.checker = new Checker(config.check());
        this.frames = new FrameAllocator(config.frames());
        this.kernel = new Kernel(frames, checker, config.pages(), config.maxMapPages(), config.order(), config.inject());
        if (config.drivers().contains(SimConfig.Driver.GPU)) {
            drivers.add(new GpuMirrorDriver(kernel, config.inject()));
        }
        if (config.drivers().contains(SimConfig.Driver.KVM)) {
            drivers.add(new KvmShadowDriver(kernel, config.inject()));
        }
        if (config.drivers().contains(SimConfig.Driver.IOMMU)) {
            drivers.add(new IommuTlbDriver(kernel, config.inject()));
        }
        if (config.drivers().contains(SimConfig.Driver.ACCEL)) {
            accel = new AccelDriver(kernel, config.inject());
            drivers.add(accel);
        } else {
            accel = null;
        }
        if (config.drivers().contains(SimConfig.Driver.DMIRROR)) {
            drivers.add(new DmirrorDriver(kernel));
        }
        if (config.drivers().contains(SimConfig.Driver.USERPTR)) {
            drivers.add(DmirrorDriver.userptr(kernel));
        }
        this.slots = new AtomicReferenceArray<>(config.processes() * 2);
        cumulative = new int[events.length];
        int sum = 0;
        for (int i = 0; i < events.length; i++) {
            boolean kswapdReclaims = events[i] == Op.RECLAIM && config.threads() > 1;
            sum += kswapdReclaims ? 0 : config.weights().get(events[i]);
            cumulative[i] = sum;
        }
        totalWeight = sum;
        progress = new AtomicLongArray(config.threads() + 1);
        primaryProgress = new AtomicLongArray(config.threads() + 1);
        actions = new Action[Op.values().length];
        for (Op ev : events) {
            actions[ev.ordinal()] = action(ev);
        }
    }

    /**
     * What one event does to a process that the worker took from {@code slot} and pinned.
     *
     * <p>{@link #step} calls these through a table, not a {@code switch}: a switch let C2 inline
     * every operation into {@code step}, one 50 KB method that C2 compiled again (about 0.3 s of
     * compiler time each, on a core the workers need) whenever a rare operation first took a
     * branch it had not profiled. Through the table's megamorphic call each operation is compiled,
     * and recompiled, on its own.
     */
    @FunctionalInterface
    private interface Action {
        void run(Process p, int slot, SplittableRandom rng, Stats st);
    }

    /** Each event's {@link Action}, by {@link Op#ordinal()}; null for what a worker never picks. */
    private final Action[] actions;

    private Action action(Op ev) {
        return switch (ev) {
            case MMAP -> (p, slot, rng, st) -> kernel.mmap(p, rng, st);
            case MUNMAP -> (p, slot, rng, st) -> kernel.munmap(p, rng, st);
            case MPROTECT -> (p, slot, rng, st) -> kernel.mprotect(p, rng, st);
            case PAGE_FAULT -> (p, slot, rng, st) -> kernel.cpuFault(p, rng, st);
            case MIGRATE -> (p, slot, rng, st) -> kernel.migrate(p, rng, st);
            case MREMAP -> (p, slot, rng, st) -> kernel.mremap(p, rng, st);
            case MADV_DONTNEED -> (p, slot, rng, st) -> kernel.madviseDontneed(p, rng, st);
            case PAGE_MKCLEAN -> (p, slot, rng, st) -> kernel.pageMkclean(p, rng, st);
            case SOFT_DIRTY -> (p, slot, rng, st) -> kernel.clearRefsSoftDirty(p, st);
            case KSM_MERGE -> (p, slot, rng, st) -> kernel.ksmMerge(p, rng, st);
            case THP_COLLAPSE -> (p, slot, rng, st) -> kernel.khugepaged(p, rng, st);
            case RECLAIM -> (p, slot, rng, st) -> kernel.reclaimStep(p, rng, st);
            case FORK -> (p, slot, rng, st) -> fork(p, st, rng);
            case EXIT -> (p, slot, rng, st) -> {
                if (live.get() > 1 && slots.compareAndSet(slot, p, null)) {
                    live.decrementAndGet();
                    kernel.exit(p, st);
                }
            };
            case OOM_KILL -> (p, slot, rng, st) -> {
                if (live.get() > 1 && slots.compareAndSet(slot, p, null)) {
                    live.decrementAndGet();
                    kernel.oomKill(p, st);
                }
            };
            case ATTACH -> (p, slot, rng, st) -> attach(p, pickDriver(rng), st);
            case DETACH -> (p, slot, rng, st) -> {
                Handle h = p.takeRandomHandle(rng, LONG_LIVED_ODDS);
                if (h != null) {
                    h.driver.close(h, st);
                    st.count(Op.DETACH);
                }
            };
            case ACCESS -> (p, slot, rng, st) -> access(p, rng, st);
            default -> throw new AssertionError(ev + " has a weight but no action here");
        };
    }

    /**
     * Runs the simulation to its end and checks the end-of-run invariants.
     *
     * @param progressOut where to draw the progress line, or null for none
     */
    Report run(PrintStream progressOut) {
        return run(progressOut, true);
    }

    /**
     * @param progressOut where to report progress, or null for none
     * @param repaint true to repaint one line in place (a terminal), false to print a plain line
     *     every {@value #PLAIN_PROGRESS_SECONDS} s (a log: no carriage returns, no escape codes)
     */
    Report run(PrintStream progressOut, boolean repaint) {
        Stats[] perThread = new Stats[config.threads() + 2];
        for (int i = 0; i < perThread.length; i++) {
            perThread[i] = new Stats();
        }
        Stats mainStats = perThread[perThread.length - 1];
        SplittableRandom master = new SplittableRandom(config.seed());
        SplittableRandom setupRng = master.split();

        for (int i = 0; i < config.processes(); i++) {
            Process p = kernel.spawn(setupRng, mainStats);
            slots.set(i, p);
            live.incrementAndGet();
        }

        long start = System.nanoTime();
        long deadline = config.events() > 0 ? Long.MAX_VALUE : start + TimeUnit.MILLISECONDS.toNanos(config.durationMillis());
        unloadAtNanos = start + TimeUnit.MILLISECONDS.toNanos(config.durationMillis()) / 2;
        for (int i = 0; i < config.threads(); i++) {
            int index = i;
            SplittableRandom rng = master.split();
            Stats st = perThread[i];
            Thread t = new Thread(() -> worker(index, rng, st, deadline), "sim-worker-" + i);
            threads.add(t);
        }
        if (config.threads() > 1) {
            SplittableRandom rng = master.split();
            Stats st = perThread[config.threads()];
            threads.add(new Thread(() -> kswapd(rng, st), "sim-kswapd"));
        }
        threads.add(new Thread(() -> gracePeriodProbe(probeStats), "sim-gp-probe"));
        for (Thread t : threads) {
            t.setDaemon(true);
            t.start();
        }
        List<Thread> workers = threads.subList(0, config.threads());
        long lastDraw = 0;
        long sampleEvery = TimeUnit.MILLISECONDS.toNanos(Timeline.INTERVAL_MILLIS);
        long nextSample = start + sampleEvery;
        // A duration-bounded run whose workers outlive the deadline by a minute is stuck (a
        // deadlock or a grace period that never ends): report it rather than hang.
        long giveUp = deadline == Long.MAX_VALUE ? Long.MAX_VALUE : deadline + TimeUnit.SECONDS.toNanos(STUCK_SECONDS);
        boolean stuck = false;
        for (Thread w : workers) {
            while (w.isAlive() && !stuck) {
                joinQuietly(w, Math.max(1, TimeUnit.NANOSECONDS.toMillis(nextSample - System.nanoTime())));
                long now = System.nanoTime();
                if (now - nextSample >= 0) {
                    sample(start, now);
                    nextSample += sampleEvery * (1 + (now - nextSample) / sampleEvery); // skip missed ticks
                }
                long every = repaint ? 500_000_000L : PLAIN_PROGRESS_SECONDS * 1_000_000_000L;
                if (progressOut != null && System.nanoTime() - lastDraw > every) {
                    lastDraw = System.nanoTime();
                    drawProgress(progressOut, start, repaint);
                }
                if (w.isAlive() && System.nanoTime() - giveUp > 0) {
                    stuck = true;
                }
            }
        }
        stop = true;
        for (Thread t : threads) {
            joinQuietly(t, stuck ? 1_000 : 10_000);
        }
        if (stuck) {
            for (Thread t : threads) {
                if (t.isAlive()) {
                    StackTraceElement[] trace = t.getStackTrace();
                    String where = trace.length == 0 ? "?" : java.util.Arrays.stream(trace).limit(6)
                            .map(StackTraceElement::toString).collect(java.util.stream.Collectors.joining(" <- "));
                    checker.violation(Checker.Kind.WORKER_FAILED,
                            () -> t.getName() + " still running " + STUCK_SECONDS + " s after the deadline, at " + where);
                }
            }
        }
        long elapsed = System.nanoTime() - start;
        // the end: every worker has published its last count
        timeline.addLast(TimeUnit.NANOSECONDS.toMillis(elapsed), publishedPrimaryEvents(), checker.violations());
        if (progressOut != null && repaint) {
            progressOut.print("\r\033[K");
            progressOut.flush();
        }

        int liveAtEnd = live.get();
        if (!stuck) {
            teardown(mainStats);
        }

        Stats total = new Stats();
        for (Stats s : perThread) {
            total.add(s);
        }
        total.add(probeStats);
        for (SecondaryMmu d : drivers) {
            d.addCallbackLatenciesTo(total);
        }
        Report report = new Report(config, elapsed, total, checker, drivers, liveAtEnd);
        report.setTimeline(timeline);
        report.setVerified(verified);
        if (interrupted) {
            report.markInterrupted();
        }
        return report;
    }

    /**
     * Stops the run early (Ctrl-C): the workers stop at their next event, and the run then ends
     * as usual, with its teardown and end-of-run checks; the report is marked interrupted.
     * Callable from any thread, any number of times.
     */
    void interrupt() {
        interrupted = true;
        stop = true;
    }

    /** The grace-period probe's figures (its own thread's). */
    private final Stats probeStats = new Stats();

    /**
     * Every {@value Timeline#INTERVAL_MILLIS} ms until the run stops (at least once), times one
     * {@code MmuNotifiers.synchronize()} (a grace period of the notifier domain, then the wait for
     * the callbacks queued before it) as {@link Stats.Latency#GRACE_PERIOD}: what an updater that
     * waits for a grace period sees under the run's load. It reads no random number, so a
     * deterministic run stays deterministic.
     */
    private void gracePeriodProbe(Stats st) {
        do { // at least one probe, however short the run
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(Timeline.INTERVAL_MILLIS));
            long t0 = System.nanoTime();
            MmuNotifiers.synchronize();
            st.record(Stats.Latency.GRACE_PERIOD, System.nanoTime() - t0);
        } while (!stop);
    }

    /** Adds a sample to the timeline: the time, the primary events published so far, the violations. */
    private void sample(long start, long now) {
        timeline.add(TimeUnit.NANOSECONDS.toMillis(now - start), publishedPrimaryEvents(), checker.violations());
    }

    /** @return the primary events the workers and kswapd have published so far */
    private long publishedPrimaryEvents() {
        long events = 0;
        for (int i = 0; i < primaryProgress.length(); i++) {
            events += primaryProgress.get(i);
        }
        return events;
    }

    /**
     * Drops a pin taken by a worker or kswapd. When it is the last pin, the {@code mmput} it runs
     * (release, unlink, grace period, teardown) is timed: the teardown ({@code exit_mmap}) raises
     * exactly one {@code UNMAP} range on this thread's statistics, and nothing else in an unpin
     * does.
     */
    private void unpin(Process p, Stats st) {
        if (p.unpinUnlessLast()) {
            return; // not the last pin: no exit path to time (two clock reads per event cost 6 %)
        }
        long unmaps = st.invalidations[org.mmunotifier.mm.MmuNotifierEvent.UNMAP.ordinal()];
        long t0 = System.nanoTime();
        p.unpin(kernel, st);
        long t1 = System.nanoTime();
        if (st.invalidations[org.mmunotifier.mm.MmuNotifierEvent.UNMAP.ordinal()] != unmaps) {
            st.record(Stats.Latency.MMPUT, t1 - t0);
        }
    }

    /** Seconds between two plain progress lines (progress not on a terminal). */
    static final int PLAIN_PROGRESS_SECONDS = 2;

    private void drawProgress(PrintStream out, long start, boolean repaint) {
        long events = 0;
        for (int i = 0; i < progress.length(); i++) {
            events += progress.get(i);
        }
        double secs = (System.nanoTime() - start) / 1e9;
        out.printf((repaint ? "\r\033[K" : "progress: ") + "%6.1f s  %,d events  %.2f M/s  live processes %d  violations %d"
                + (repaint ? "" : "%n"), secs, events, events / Math.max(secs, 1e-9) / 1e6, live.get(),
                checker.violations());
        out.flush();
    }

    private static void joinQuietly(Thread t, long millis) {
        try {
            t.join(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    // ------------------------------------------------------------------ threads

    private void worker(int index, SplittableRandom rng, Stats st, long deadline) {
        long limit = config.events();
        boolean unloadPending = accel != null && config.unload() && index == 0;
        try {
            for (long n = 0; !stop; n++) {
                if (limit > 0 ? n >= limit : (n & 255) == 0 && System.nanoTime() >= deadline) {
                    break;
                }
                if (unloadPending && (limit > 0 ? n == limit / 2 : (n & 255) == 0 && System.nanoTime() >= unloadAtNanos)) {
                    accel.unload(st);
                    unloadPending = false;
                }
                step(rng, st);
                if ((n & 1023) == 0) {
                    progress.set(index, n);
                }
                if ((n & 255) == 0) {
                    primaryProgress.set(index, st.primaryEvents());
                }
            }
        } catch (Throwable t) {
            checker.violation(Checker.Kind.WORKER_FAILED, () -> Thread.currentThread().getName() + ": " + t);
            stop = true;
        } finally {
            primaryProgress.set(index, st.primaryEvents());
        }
    }

    private void kswapd(SplittableRandom rng, Stats st) {
        try {
            while (!stop) {
                for (int i = 0; i < 8 && !stop; i++) {
                    Process p = slots.get(rng.nextInt(slots.length()));
                    if (p != null && p.tryPin()) {
                        try {
                            kernel.reclaimStep(p, rng, st);
                        } finally {
                            unpin(p, st);
                        }
                    }
                }
                primaryProgress.set(config.threads(), st.primaryEvents());
                LockSupport.parkNanos(20_000);
            }
        } catch (Throwable t) {
            checker.violation(Checker.Kind.WORKER_FAILED, () -> Thread.currentThread().getName() + ": " + t);
            stop = true;
        } finally {
            primaryProgress.set(config.threads(), st.primaryEvents());
        }
    }

    private Op pickEvent(SplittableRandom rng) {
        int r = rng.nextInt(totalWeight);
        int i = 0;
        while (r >= cumulative[i]) {
            i++;
        }
        return events[i];
    }

    private void step(SplittableRandom rng, Stats st) {
        Op ev = pickEvent(rng);
        int slot = rng.nextInt(slots.length());
        Process p = slots.get(slot);
        for (int tries = 0; p == null && tries < 3; tries++) {
            slot = rng.nextInt(slots.length());
            p = slots.get(slot);
        }
        if (p == null) {
            if (live.get() < config.processes()) {
                Process fresh = kernel.spawn(rng, st);
                if (slots.compareAndSet(slot, null, fresh)) {
                    live.incrementAndGet();
                } else {
                    kernel.exit(fresh, st);
                }
            }
            return;
        }
        if (!p.tryPin()) {
            return;
        }
        try {
            actions[ev.ordinal()].run(p, slot, rng, st);
        } finally {
            unpin(p, st);
        }
    }

    private SecondaryMmu pickDriver(SplittableRandom rng) {
        return drivers.get(rng.nextInt(drivers.size()));
    }

    private Handle attach(Process p, SecondaryMmu d, Stats st) {
        if (d == accel && accel.unloading()) {
            return null;
        }
        Handle h = p.open(() -> p.handleCountLocked() >= config.maxHandles() || (d.longLived() && p.hasHandleLocked(d))
                ? null : d.open(p, st));
        if (h != null) {
            st.count(Op.ATTACH);
        }
        return h;
    }

    private void access(Process p, SplittableRandom rng, Stats st) {
        SecondaryMmu d = pickDriver(rng);
        if (d == accel && accel.unloading()) {
            d = drivers.get(0);
            if (d == accel) {
                return;
            }
        }
        Handle h = p.randomHandle(d, rng);
        if (h == null) {
            h = attach(p, d, st);
            if (h == null) {
                return;
            }
        }
        int vpage;
        boolean write;
        if (rng.nextInt(10) == 0) {
            vpage = rng.nextInt(config.pages());
            write = rng.nextBoolean();
        } else {
            VmaList.Vma v = p.vmas.randomUnlocked(rng);
            if (v == null) {
                return;
            }
            vpage = v.start() + rng.nextInt(v.length());
            write = v.writable() && rng.nextInt(3) == 0;
        }
        st.count(d.access(h, vpage, write, st) ? Op.ACCESS : Op.ACCESS_REFUSED);
    }

    private void fork(Process parent, Stats st, SplittableRandom rng) {
        if (live.get() >= slots.length()) {
            return;
        }
        Process child = kernel.fork(parent, st);
        for (int tries = 0; tries < 8; tries++) {
            int s = rng.nextInt(slots.length());
            if (slots.compareAndSet(s, null, child)) {
                live.incrementAndGet();
                return;
            }
        }
        kernel.exit(child, st);
    }

    // ------------------------------------------------------------------ end of run

    private void teardown(Stats st) {
        for (int i = 0; i < slots.length(); i++) {
            Process p = slots.getAndSet(i, null);
            if (p != null) {
                live.decrementAndGet();
                kernel.exit(p, st);
            }
        }
        if (accel != null && !accel.unloaded()) {
            accel.unload(st);
        }
        for (SecondaryMmu d : drivers) {
            d.closeAll(st);
        }
        long t0 = System.nanoTime();
        MmuNotifiers.synchronize();
        st.record(Stats.Latency.SYNCHRONIZE, System.nanoTime() - t0);

        long notifiers = 0;
        long subscriptions = 0;
        for (SecondaryMmu d : drivers) {
            long a = d.notifiersAllocated();
            long f = d.notifiersFreed();
            notifiers += a;
            if (d instanceof DmirrorDriver) { // its "notifiers" are interval subscriptions
                subscriptions += a;
            }
            if (a != f) { // one violation per notifier not freed (or freed too often)
                checker.violations(Checker.Kind.NOTIFIER_LEAK, Math.abs(a - f),
                        () -> String.format("%s: %,d notifiers allocated, %,d freed", d.name, a, f));
            }
        }
        long mms = 0;
        for (MmStruct mm : kernel.allMms()) {
            mms++;
            if (mm.users() != 0 || mm.count() != 0) {
                checker.violation(Checker.Kind.MM_REFERENCE_LEAK, () -> mm + " users " + mm.users() + " count " + mm.count());
            }
        }
        int free = frames.freeFrames();
        if (free != frames.frames()) {
            checker.violation(Checker.Kind.FRAME_LEAK, () -> String.format("%,d frames still mapped", frames.frames() - free));
        }
        for (Thread t : threads) {
            if (t.isAlive()) {
                checker.violation(Checker.Kind.THREAD_LEFT_RUNNING, t::getName);
            }
        }
        verified.put("every notifier allocated was freed exactly once", notifiers);
        if (drivers.stream().anyMatch(d -> d instanceof DmirrorDriver)) {
            verified.put("every interval subscription inserted was removed, and none was called after", subscriptions);
        }
        verified.put("every mm's users and count came back to 0", mms);
        verified.put("every physical frame is free", (long) frames.frames());
        verified.put("no simulator thread is left running", (long) threads.size());
    }

    /** The end-of-run checks made, each with the number of objects it covered (for the report). */
    private final java.util.Map<String, Long> verified = new java.util.LinkedHashMap<>();
}
