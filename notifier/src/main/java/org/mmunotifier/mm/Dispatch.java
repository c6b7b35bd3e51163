package org.mmunotifier.mm;

import static org.mmunotifier.mm.NotifierDomain.SRCU;

import org.mmunotifier.srcu.ExecutionContext;
import org.mmunotifier.srcu.Srcu;

/**
 * Calls the callbacks (Linux's {@code __mmu_notifier_*} walkers): every callback of the library
 * runs through {@link #call}, which pushes the frame of the right context around it. Allocates
 * nothing unless a callback fails.
 */
final class Dispatch {
    /*
     * Overview
     * --------
     * A walk loads the subscription array once inside a read section of the domain (so every
     * element stays alive until readUnlock: see MmuNotifier's overview) and calls one callback per
     * notifier through call(). Failures do not stop a walk: the first Throwable is rethrown after
     * the walk, the others added to it as suppressed.
     *
     * Contexts (5.4, with CONFIG_DEBUG_ATOMIC_SLEEP and lockdep):
     *   release                       sleepable (exit_mmap / unregister, no lock held)
     *   invalidateRangeStart/End      sleepable iff the range is blockable (non_block_start/end)
     *   invalidateRange               atomic: under the page-table lock (ptep_clear_flush_notify)
     *   clearFlushYoung, clearYoung,
     *   testYoung, changePte          atomic: under the page-table lock
     *   freeNotifier                  atomic: an SRCU callback (srcu_invoke_callbacks runs it with
     *                                 bottom halves disabled)
     */

    /** The callbacks, with the context 5.4 runs them in and their erased parameter types. */
    enum Callback {
        RELEASE("release", false, MmStruct.class),
        INVALIDATE_RANGE_START("invalidateRangeStart", false, MmuNotifierRange.class), // atomic iff not blockable
        INVALIDATE_RANGE_END("invalidateRangeEnd", false, MmuNotifierRange.class),     // likewise
        INVALIDATE_RANGE("invalidateRange", true, MmStruct.class, long.class, long.class),
        CLEAR_FLUSH_YOUNG("clearFlushYoung", true, MmStruct.class, long.class, long.class),
        CLEAR_YOUNG("clearYoung", true, MmStruct.class, long.class, long.class),
        TEST_YOUNG("testYoung", true, MmStruct.class, long.class),
        CHANGE_PTE("changePte", true, MmStruct.class, long.class, long.class),
        FREE_NOTIFIER("freeNotifier", true);

        final String kernelName;
        /** The frame this callback runs in; for a range's start and end, on a blockable range. */
        final ExecutionContext.Frame frame;
        /** The frame of a range's start and end on a non-blockable range. */
        final ExecutionContext.Frame atomicFrame;
        /** This callback's bit in {@link MmuNotifier#implemented}. */
        final int bit;
        /** Whether it answers (the young callbacks): dispatched by {@link #callYoung}. */
        final boolean young;
        /** The method's parameter types after the erased {@code N mn}. */
        private final Class<?>[] params;

        Callback(String javaName, boolean atomic, Class<?>... params) {
            this.kernelName = javaName;
            this.frame = ExecutionContext.frame(javaName, atomic);
            this.atomicFrame = atomic ? frame : ExecutionContext.frame(javaName, true);
            this.bit = 1 << ordinal();
            this.young = javaName.endsWith("Young");
            this.params = new Class<?>[params.length + 1];
            this.params[0] = MmuNotifier.class;
            System.arraycopy(params, 0, this.params, 1, params.length);
        }
    }

    /**
     * Which callbacks an ops class overrides, as a mask of {@link Callback#bit}s: the kernel's
     * {@code if (mn->ops->invalidate_range)} tests. A callback left to the interface's default
     * (which does nothing, as a NULL op) is neither called nor given a frame: the result is the
     * default's, so skipping it changes nothing but the cost.
     */
    private static final ClassValue<Integer> IMPLEMENTED = new ClassValue<>() {
        @Override
        protected Integer computeValue(Class<?> opsClass) {
            return overrides(opsClass);
        }
    };

    /** @return the {@link Callback#bit}s of the callbacks {@code opsClass} overrides (uncached) */
    static int overrides(Class<?> opsClass) {
        int mask = 0;
        for (Callback cb : Callback.values()) {
            try {
                // A generic override is reached through its bridge, declared by the class.
                if (opsClass.getMethod(cb.kernelName, cb.params).getDeclaringClass() != MmuNotifierOps.class) {
                    mask |= cb.bit;
                }
            } catch (NoSuchMethodException e) {
                throw new AssertionError("MmuNotifierOps." + cb.kernelName + " not found", e);
            }
        }
        return mask;
    }

    /** The bit the end's loop tests, as a static final: C2 folds it (not an enum's field). */
    private static final int RANGE_BIT = Callback.INVALIDATE_RANGE.bit;

    /** @return the {@link Callback#bit}s of the callbacks {@code ops}' class overrides */
    static int implemented(MmuNotifierOps<?> ops) {
        return IMPLEMENTED.get(ops.getClass());
    }

    private Dispatch() {
    }

    /** The ops of a published notifier, typed for dispatch (it was registered as an N). */
    @SuppressWarnings("unchecked")
    static MmuNotifierOps<MmuNotifier> ops(MmuNotifier mn) {
        return (MmuNotifierOps<MmuNotifier>) mn.ops;
    }

    /**
     * Runs one callback that returns nothing on {@code mn}, inside a frame of its context.
     * {@code a} and {@code b} are its two long arguments ({@code start, end}, or
     * {@code address, pte}). A callback that {@code mn}'s ops leave to the interface's default
     * is not called, nor framed.
     */
    @SuppressWarnings("deprecation") // changePte
    static void call(ExecutionContext ctx, Callback cb, MmuNotifier mn, MmStruct mm, MmuNotifierRange range,
            long a, long b) {
        if ((mn.implemented & cb.bit) == 0) {
            return; // the default does nothing
        }
        ctx.enter(range == null || range.blockable() ? cb.frame : cb.atomicFrame);
        try {
            MmuNotifierOps<MmuNotifier> o = ops(mn);
            switch (cb) {
                case RELEASE -> o.release(mn, mm);
                case INVALIDATE_RANGE_END -> o.invalidateRangeEnd(mn, range);
                case INVALIDATE_RANGE -> o.invalidateRange(mn, mm, a, b);
                case CHANGE_PTE -> o.changePte(mn, mm, a, b);
                case FREE_NOTIFIER -> o.freeNotifier(mn);
                default -> throw new AssertionError(cb + " returns a value or has a loop of its own");
            }
        } finally {
            ctx.exit();
        }
    }

    /**
     * Runs one young callback ({@code clearFlushYoung}, {@code clearYoung}, {@code testYoung})
     * on {@code mn} in its atomic frame.
     *
     * @return its answer; false for one the ops leave to the default (which answers false)
     */
    static boolean callYoung(ExecutionContext ctx, Callback cb, MmuNotifier mn, MmStruct mm, long a, long b) {
        if ((mn.implemented & cb.bit) == 0) {
            return false;
        }
        ctx.enter(cb.frame);
        try {
            MmuNotifierOps<MmuNotifier> o = ops(mn);
            return switch (cb) {
                case CLEAR_FLUSH_YOUNG -> o.clearFlushYoung(mn, mm, a, b);
                case CLEAR_YOUNG -> o.clearYoung(mn, mm, a, b);
                case TEST_YOUNG -> o.testYoung(mn, mm, a);
                default -> throw new AssertionError(cb + " is no young callback");
            };
        } finally {
            ctx.exit();
        }
    }

    // ================================================================== the walks

    /**
     * The walk of the single-address-space events: {@code invalidateRange}, the young callbacks
     * and {@code changePte}. Every linked notifier is called, newest first, except that
     * {@code testYoung} stops at the first true.
     *
     * @return the OR of the young callbacks' answers (false for the others, and for an mm
     *     without notifiers)
     */
    static boolean walk(Callback cb, MmStruct mm, long a, long b) {
        Subscriptions s = mm.subscriptions;
        if (s == null) {
            return false;
        }
        if (s == Subscriptions.POISON) {
            throw mm.destroyedError("PrimaryMmu." + cb.kernelName);
        }
        Srcu.Reader reader = SRCU.reader();
        ExecutionContext ctx = reader.context();
        boolean result = false;
        Throwable failure = null;
        int idx = reader.lock();
        try {
            for (MmuNotifier mn : s.list) { // loaded inside the section
                try {
                    if (!cb.young) {
                        call(ctx, cb, mn, mm, null, a, b);
                    } else if (callYoung(ctx, cb, mn, mm, a, b)) {
                        result = true;
                        if (cb == Callback.TEST_YOUNG) {
                            break;
                        }
                    }
                } catch (Throwable t) {
                    failure = addFailure(failure, t);
                }
            }
        } finally {
            reader.unlock(idx);
        }
        if (failure != null) {
            rethrow(failure);
        }
        return result;
    }

    /**
     * __mmu_notifier_invalidate_range_start with per-range tracking (5.12's pairing fix). The
     * caller has checked the range's state and that {@code s} is neither null nor the poison.
     *
     * @param pairEnds whether a failed start ends the starts that succeeded (5.12's fix); false
     *     only for {@link PrimaryMmu#invalidateRangeStartNonblockUnpaired}
     * @return whether every start succeeded
     */
    static boolean start(MmuNotifierRange range, Subscriptions s, boolean pairEnds) {
        boolean blockable = range.blockable();
        Srcu.Reader reader = SRCU.reader(); // one lookup for the read section and the frames
        ExecutionContext ctx = reader.context();
        if (blockable) {
            ctx.mightSleep("PrimaryMmu.invalidateRangeStart (blockable range)"); // before any change
        }
        Itree it = s.itree;
        if (it != null && !itreeStart(range, it, ctx)) { // I-10: the itree pass first; I-3: a refusal
            return false;                                  // ends it and skips the list pass
        }
        if (s.list.length == 0) { // a registration racing this load is ordered after the start
            range.state = MmuNotifierRange.STARTED;    // I-10: no list, no read section
            if (range.itree != null) {
                // The end must close the itree pass: a non-null (empty) snapshot sends it off the
                // no-notifier fast path, which stays one load and a null check.
                range.started = Subscriptions.EMPTY;
            }
            return true;
        }
        MmuNotifier[] list;
        StartFailures failures;
        InvalidationEvent event = InvalidationEvent.beginIfEnabled(); // JFR: null unless recorded
        int idx = reader.lock();
        try {
            list = s.list; // loaded inside the section: every element stays alive until readUnlock
            // After the list load: every notifier in 'list' was stamped before it was published,
            // so its stamp is <= this; a later re-link (only possible after an unregister or a
            // free, which wait for this section) gets a larger one.
            range.startGen = Subscriptions.LINK_GEN.get();
            // One frame for the whole walk: every callback in it runs in the same context.
            ctx.enter(blockable ? Callback.INVALIDATE_RANGE_START.frame : Callback.INVALIDATE_RANGE_START.atomicFrame);
            try {
                failures = startEach(list, range, blockable);
            } finally {
                ctx.exit();
            }
            if (failures != null && pairEnds) {
                // c2655835fd8c: the starts that succeeded expect their end; deliver it now, in
                // this section, where every element of 'list' is still alive. (Without pairEnds:
                // 5.4's bug, reproduced on request: they never get it.)
                failures.endSucceeded(ctx, list, range);
            }
        } finally {
            reader.unlock(idx);
        }
        if (event != null) {
            event.finish(InvalidationEvent.START, range, list.length, failures != null);
        }
        if (failures != null) {
            range.state = MmuNotifierRange.ABORTED;
            endItreePass(range); // a failed start leaves no trace: the itree pass ends too
            if (failures.first != null) {
                rethrow(failures.first);
            }
            return false;
        }
        range.started = list;
        range.state = MmuNotifierRange.STARTED;
        return true;
    }

    /*
     * The loops of start and end are methods of their own, apart from the frame and the read
     * section: a loop that keeps fewer values live spills fewer registers around each (inlined)
     * callback. A failure leaves the fast loop for one that records it (allocating only then).
     */

    /** Calls every start, in list order; null if every one succeeded. */
    private static StartFailures startEach(MmuNotifier[] list, MmuNotifierRange range, boolean blockable) {
        for (int i = 0; i < list.length; i++) {
            Throwable r = startOne(list[i], range, blockable);
            if (r != null) {
                return startEachAfterFailure(list, range, blockable, i, r);
            }
        }
        return null;
    }

    /** The rest of {@link #startEach} once the start at {@code i} has failed with {@code r}. */
    private static StartFailures startEachAfterFailure(MmuNotifier[] list, MmuNotifierRange range, boolean blockable,
            int i, Throwable r) {
        StartFailures f = new StartFailures(list.length);
        f.add(i, r);
        for (int j = i + 1; j < list.length; j++) {
            Throwable rj = startOne(list[j], range, blockable);
            if (rj != null) {
                f.add(j, rj);
            }
        }
        return f;
    }

    /**
     * One notifier's start. @return null if it succeeded (a blockable start that returns false
     * is warned about and counts as a success, as the kernel delivers its end anyway),
     * {@link StartFailures#RETURNED_FALSE} if a non-blockable start refused, or what it threw
     */
    private static Throwable startOne(MmuNotifier mn, MmuNotifierRange range, boolean blockable) {
        boolean ok;
        try {
            ok = ops(mn).invalidateRangeStart(mn, range);
        } catch (Throwable t) {
            return t;
        }
        if (ok) {
            return null;
        }
        if (blockable) {
            MmuNotifier.warnBlockableFailure(mn, range);
            return null;
        }
        return StartFailures.RETURNED_FALSE;
    }

    /** Which starts of one walk failed, and the first exception (the others suppressed into it). */
    private static final class StartFailures {
        /** Marks a start that returned false; never thrown, never recorded as an exception. */
        static final Throwable RETURNED_FALSE = new Throwable("invalidateRangeStart returned false", null, false,
                false) {
            private static final long serialVersionUID = 1L;
        };

        final boolean[] failed;
        Throwable first;

        StartFailures(int n) {
            failed = new boolean[n];
        }

        void add(int i, Throwable r) {
            failed[i] = true;
            if (r != RETURNED_FALSE) {
                first = addFailure(first, r);
            }
        }

        /** Ends every start that succeeded, each in its frame; their exceptions join {@link #first}. */
        void endSucceeded(ExecutionContext ctx, MmuNotifier[] list, MmuNotifierRange range) {
            for (int i = 0; i < list.length; i++) {
                if (!failed[i]) {
                    try {
                        call(ctx, Callback.INVALIDATE_RANGE_END, list[i], range.mm(), range, 0, 0);
                    } catch (Throwable t) {
                        first = addFailure(first, t);
                    }
                }
            }
        }
    }

    /** __mmu_notifier_invalidate_range_end over the start's snapshot (see MmuNotifier's overview). */
    static void end(MmuNotifierRange range, boolean onlyEnd) {
        byte st = range.state;
        if (st != MmuNotifierRange.STARTED) {
            endNotStarted(range, st);
            return;
        }
        MmuNotifier[] list = range.started;
        if (list == null) { // no notifier at the start: kept small so that this path inlines
            range.state = MmuNotifierRange.ENDED;
            return;
        }
        endWalk(range, list, onlyEnd); // also the end of an itree pass (then 'list' may be empty)
    }

    private static void endNotStarted(MmuNotifierRange range, byte st) {
        if (st == MmuNotifierRange.ABORTED) { // the failed start already delivered the ends
            range.state = MmuNotifierRange.ENDED;
            return;
        }
        throw new IllegalStateException("PrimaryMmu.invalidateRangeEnd: " + range
                + (st == MmuNotifierRange.NEW ? " was never started" : " is already ended")
                + " (one end per successful start)");
    }

    private static void endWalk(MmuNotifierRange range, MmuNotifier[] list, boolean onlyEnd) {
        if (list.length == 0) { // an itree pass and no list notifier at the start (I-10)
            range.started = null;
            range.state = MmuNotifierRange.ENDED;
            endItreePass(range); // never sleeps (the Itree monitor): no context lookup, as the
            return;              // no-notifier path, which skips the check too
        }
        boolean blockable = range.blockable();
        Srcu.Reader reader = SRCU.reader();
        ExecutionContext ctx = reader.context();
        if (blockable) { // before any change: a refused end can be retried
            ctx.mightSleep("PrimaryMmu.invalidateRangeEnd (blockable range)");
        }
        range.started = null;
        range.state = MmuNotifierRange.ENDED;
        endItreePass(range); // I-10: the itree pass ends first, then the list pass
        Throwable failure;
        InvalidationEvent event = InvalidationEvent.beginIfEnabled(); // JFR: null unless recorded
        int idx = reader.lock();
        // The end's frame for the whole walk; invalidateRange nests its atomic frame inside it.
        ctx.enter(blockable ? Callback.INVALIDATE_RANGE_END.frame : Callback.INVALIDATE_RANGE_END.atomicFrame);
        try {
            failure = endEach(list, range, onlyEnd);
        } finally {
            ctx.exit();
            reader.unlock(idx);
        }
        if (event != null) {
            event.finish(InvalidationEvent.END, range, list.length, false);
        }
        if (failure != null) {
            rethrow(failure);
        }
    }

    /** The end's loop; @return the first exception a callback threw (the others suppressed), or null */
    private static Throwable endEach(MmuNotifier[] list, MmuNotifierRange range, boolean onlyEnd) {
        Throwable failure = null;
        for (MmuNotifier mn : list) {
            // One volatile load answers both questions: unlinked since the start (may be freed:
            // see MmuNotifier's overview; the stamp is then UNLINKED, larger than any start), or
            // unlinked and linked again since the start (a newer stamp: that registration never
            // got this start). A global "any link since the start?" test before the loop would
            // not do: a re-link may land between it and this load.
            if (mn.linkStamp > range.startGen) {
                continue;
            }
            // The end's callbacks are called whether or not the ops override them (a default is a
            // no-op, inlined); invalidateRange is tested, since calling it means a nested frame.
            if (!onlyEnd && (mn.implemented & RANGE_BIT) != 0) {
                try {
                    call(ExecutionContext.current(), Callback.INVALIDATE_RANGE, mn, range.mm(), null, range.start(),
                            range.end());
                } catch (Throwable t) {
                    failure = addFailure(failure, t);
                }
            }
            try {
                ops(mn).invalidateRangeEnd(mn, range);
            } catch (Throwable t) {
                failure = addFailure(failure, t);
            }
        }
        return failure;
    }

    /**
     * __mmu_notifier_release: every linked notifier's release, newest first, in one read section,
     * each still linked while it runs; then the list is emptied and a grace period awaited (so
     * that a release run by a racing unregister has finished too).
     *
     * @return the first exception a release threw (the others suppressed), or null
     */
    static Throwable releaseAll(MmStruct mm) {
        Subscriptions s = mm.subscriptions;
        if (s == null || s.list.length == 0) {
            // 5.5: no list entry, no list release (an unregister that unlinked its notifier has
            // returned from its release already: it runs release before the unlink)
            return null;
        }
        Srcu.Reader reader = SRCU.reader();
        ExecutionContext ctx = reader.context();
        Throwable failure = null;
        int idx = reader.lock();
        try {
            for (MmuNotifier mn : s.list) {
                if (mn.claimRelease()) { // at most once per registration (exit racing unregister)
                    try {
                        call(ctx, Callback.RELEASE, mn, mm, null, 0, 0);
                    } catch (Throwable t) {
                        failure = addFailure(failure, t);
                    }
                }
            }
        } finally {
            reader.unlock(idx);
            s.unlinkAll();
        }
        SRCU.synchronize();
        return failure;
    }

    // ================================================================== interval notifiers (5.5+)

    /** The frames of MmuIntervalNotifierOps.invalidate: sleepable on a blockable range, else atomic. */
    static final ExecutionContext.Frame ITREE_FRAME = ExecutionContext.frame("MmuIntervalNotifierOps.invalidate",
            false);
    static final ExecutionContext.Frame ITREE_ATOMIC_FRAME = ExecutionContext.frame(
            "MmuIntervalNotifierOps.invalidate", true);

    /**
     * mn_itree_invalidate (I-2, I-3): counts the range in, and if an interval overlaps it, calls
     * every overlapping subscription's {@code invalidate} with the odd current sequence, in one
     * frame, without a lock and outside any SRCU section (the odd sequence freezes the tree and
     * keeps every subscription in it alive: remove waits for the end). On success the range
     * remembers the pass, for its end. On a non-blockable refusal the walk stops at once, the pass
     * is ended and the range aborted. A callback that throws does not stop the walk; after it
     * the pass is ended, the range aborted and the first exception rethrown.
     *
     * @return false if a non-blockable callback refused
     */
    static boolean itreeStart(MmuNotifierRange range, Itree it, ExecutionContext ctx) {
        long lo = range.start();
        long hi = range.end() - 1; // the tree's intervals are closed
        long curSeq = it.invStart(lo, hi);
        if (curSeq == 0) { // nothing overlaps: one descent, no walk
            range.itree = it;
            return true;
        }
        ItreeWalk w = new ItreeWalk(range, curSeq);
        ctx.enter(range.blockable() ? ITREE_FRAME : ITREE_ATOMIC_FRAME);
        try {
            // Unlocked: invStart's monitor exit orders every tree write before these reads, and
            // no write can happen until our invEnd (the sequence stays odd): see Itree's
            // "Memory ordering". [Required: the tree never changes under a walk.]
            int modCount = it.tree.modCount;
            it.tree.forEachOverlap(lo, hi, w);
            if (it.tree.modCount != modCount) { // a library bug: reported like a failed callback
                w.failure = addFailure(w.failure, new AssertionError("the interval tree of " + range.mm()
                        + " changed under a walk, while its sequence was odd"));
            }
        } finally {
            ctx.exit();
        }
        if (w.refused || w.failure != null) {
            it.invEnd(); // mn_itree_inv_end at once
            range.state = MmuNotifierRange.ABORTED;
            if (w.failure != null) {
                rethrow(w.failure);
            }
            return false;
        }
        range.itree = it;
        return true;
    }

    /** Ends the itree pass of a range, if it has one (mn_itree_inv_end). */
    static void endItreePass(MmuNotifierRange range) {
        Itree it = range.itree;
        if (it != null) {
            range.itree = null;
            it.invEnd();
        }
    }

    /** The walk of one itree pass: calls each overlapping subscription, stops on a refusal. */
    private static final class ItreeWalk implements IntervalTree.Visitor<MmuIntervalNotifier> {
        final MmuNotifierRange range;
        final long curSeq;
        boolean refused;
        Throwable failure;

        ItreeWalk(MmuNotifierRange range, long curSeq) {
            this.range = range;
            this.curSeq = curSeq;
        }

        @Override
        public boolean visit(MmuIntervalNotifier sub) {
            boolean ok;
            try {
                ok = sub.ops.invalidate(sub, range, curSeq);
            } catch (Throwable t) {
                failure = addFailure(failure, t);
                return true; // the others are still told
            }
            if (ok) {
                return true;
            }
            if (range.blockable()) { // the kernel WARNs and goes on
                MmuNotifier.warnIntervalBlockableFailure(sub, range);
                return true;
            }
            refused = true; // I-3: -EAGAIN at once
            return false;
        }
    }

    /**
     * mn_itree_release (I-9): the exit's invalidation of the whole address space
     * ({@code [0, 2^64 - 1)}, blockable, {@link MmuNotifierEvent#RELEASE}) through the tree,
     * before the list's release.
     *
     * @return what a callback threw (the others suppressed), or null
     */
    static Throwable itreeRelease(MmStruct mm) {
        Subscriptions s = mm.subscriptions;
        if (s == null) {
            return null;
        }
        Itree it = s.itree;
        if (it == null) {
            return null;
        }
        MmuNotifierRange range = new MmuNotifierRange(mm, 0, -1L, MmuNotifierEvent.RELEASE, true);
        try {
            itreeStart(range, it, ExecutionContext.current()); // blockable: never refused
        } catch (Throwable t) { // the pass was ended
            return t;
        }
        endItreePass(range);
        return null;
    }

    /** unregister's release of one notifier, in a read section; returns what it threw, or null. */
    static Throwable releaseOne(MmuNotifier mn, MmStruct mm) {
        Srcu.Reader reader = SRCU.reader();
        ExecutionContext ctx = reader.context();
        int idx = reader.lock();
        try {
            call(ctx, Callback.RELEASE, mn, mm, null, 0, 0);
            return null;
        } catch (Throwable t) {
            return t;
        } finally {
            reader.unlock(idx);
        }
    }

    /** Calls freeNotifier in its (atomic) frame. */
    static void free(MmuNotifier mn) {
        call(ExecutionContext.current(), Callback.FREE_NOTIFIER, mn, mn.mm, null, 0, 0);
    }

    // ================================================================== failures

    static Throwable addFailure(Throwable first, Throwable t) {
        if (t == null) {
            return first;
        }
        if (first == null) {
            return t;
        }
        if (first != t) {
            first.addSuppressed(t);
        }
        return first;
    }

    static void rethrow(Throwable t) {
        if (t instanceof RuntimeException) {
            throw (RuntimeException) t;
        }
        if (t instanceof Error) {
            throw (Error) t;
        }
        throw new IllegalStateException("an MMU-notifier callback threw a checked exception", t);
    }
}
