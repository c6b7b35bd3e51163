package org.mmunotifier.mm;

import static org.mmunotifier.mm.NotifierDomain.SRCU;

import org.mmunotifier.srcu.ExecutionContext;

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

    /** The callbacks, with the context 5.4 runs them in. */
    enum Callback {
        RELEASE("release", false),
        INVALIDATE_RANGE_START("invalidateRangeStart", false), // atomic iff the range is not blockable
        INVALIDATE_RANGE_END("invalidateRangeEnd", false),     // likewise
        INVALIDATE_RANGE("invalidateRange", true),
        CLEAR_FLUSH_YOUNG("clearFlushYoung", true),
        CLEAR_YOUNG("clearYoung", true),
        TEST_YOUNG("testYoung", true),
        CHANGE_PTE("changePte", true),
        FREE_NOTIFIER("freeNotifier", true);

        final String kernelName;
        /** The frame this callback runs in; for a range's start and end, on a blockable range. */
        final ExecutionContext.Frame frame;
        /** The frame of a range's start and end on a non-blockable range. */
        final ExecutionContext.Frame atomicFrame;

        Callback(String javaName, boolean atomic) {
            this.kernelName = javaName;
            this.frame = ExecutionContext.frame(javaName, atomic);
            this.atomicFrame = atomic ? frame : ExecutionContext.frame(javaName, true);
        }
    }

    private Dispatch() {
    }

    /** The ops of a published notifier, typed for dispatch (it was registered as an N). */
    @SuppressWarnings("unchecked")
    static MmuNotifierOps<MmuNotifier> ops(MmuNotifier mn) {
        return (MmuNotifierOps<MmuNotifier>) mn.ops;
    }

    /**
     * Runs one callback on {@code mn} inside a frame of its context. {@code a} and {@code b} are
     * the callback's two long arguments ({@code start, end}, or {@code address, pte}).
     *
     * @return the callback's result; true for the callbacks that return nothing
     */
    @SuppressWarnings("deprecation") // changePte
    static boolean call(ExecutionContext ctx, Callback cb, MmuNotifier mn, MmStruct mm, MmuNotifierRange range,
            long a, long b) {
        ctx.enter(range == null || range.blockable() ? cb.frame : cb.atomicFrame);
        try {
            MmuNotifierOps<MmuNotifier> o = ops(mn);
            switch (cb) {
                case RELEASE:
                    o.release(mn, mm);
                    return true;
                case INVALIDATE_RANGE_START:
                    return o.invalidateRangeStart(mn, range);
                case INVALIDATE_RANGE_END:
                    o.invalidateRangeEnd(mn, range);
                    return true;
                case INVALIDATE_RANGE:
                    o.invalidateRange(mn, mm, a, b);
                    return true;
                case CLEAR_FLUSH_YOUNG:
                    return o.clearFlushYoung(mn, mm, a, b);
                case CLEAR_YOUNG:
                    return o.clearYoung(mn, mm, a, b);
                case TEST_YOUNG:
                    return o.testYoung(mn, mm, a);
                case CHANGE_PTE:
                    o.changePte(mn, mm, a, b);
                    return true;
                case FREE_NOTIFIER:
                    o.freeNotifier(mn);
                    return true;
                default:
                    throw new AssertionError(cb);
            }
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
     * @return the OR of the results (false for an mm without notifiers)
     */
    static boolean walk(Callback cb, MmStruct mm, long a, long b) {
        Subscriptions s = mm.subscriptions;
        if (s == null) {
            return false;
        }
        if (s == Subscriptions.POISON) {
            throw mm.destroyedError("PrimaryMmu." + cb.kernelName);
        }
        ExecutionContext ctx = ExecutionContext.current();
        boolean result = false;
        Throwable failure = null;
        int idx = SRCU.readLock();
        try {
            for (MmuNotifier mn : s.list) { // loaded inside the section
                try {
                    if (call(ctx, cb, mn, mm, null, a, b)) {
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
            SRCU.readUnlock(idx);
        }
        if (failure != null) {
            rethrow(failure);
        }
        return cb == Callback.INVALIDATE_RANGE || cb == Callback.CHANGE_PTE ? false : result;
    }

    /**
     * __mmu_notifier_invalidate_range_start with per-range tracking (5.12's pairing fix). The
     * caller has checked the range's state and that {@code s} is neither null nor the poison.
     *
     * @return whether every start succeeded
     */
    static boolean start(MmuNotifierRange range, Subscriptions s) {
        boolean blockable = range.blockable();
        ExecutionContext ctx = ExecutionContext.current();
        if (blockable) {
            ctx.mightSleep("PrimaryMmu.invalidateRangeStart (blockable range)"); // before any change
        }
        if (s.list.length == 0) { // a registration racing this load is ordered after the start
            range.state = MmuNotifierRange.STARTED;
            return true;
        }
        MmStruct mm = range.mm();
        Throwable failure = null;
        boolean[] failed = null;
        MmuNotifier[] list;
        int idx = SRCU.readLock();
        try {
            list = s.list; // loaded inside the section: every element stays alive until readUnlock
            // After the list load: every notifier in 'list' was stamped before it was published,
            // so its stamp is <= this; a later re-link (only possible after an unregister or a
            // free, which wait for this section) gets a larger one.
            range.startGen = Subscriptions.LINK_GEN.get();
            // One frame for the whole walk: every callback in it runs in the same context.
            ctx.enter(blockable ? Callback.INVALIDATE_RANGE_START.frame : Callback.INVALIDATE_RANGE_START.atomicFrame);
            try {
                for (int i = 0; i < list.length; i++) {
                    MmuNotifier mn = list[i];
                    boolean ok;
                    try {
                        ok = ops(mn).invalidateRangeStart(mn, range);
                        if (!ok && blockable) {
                            MmuNotifier.warnBlockableFailure(mn, range);
                            ok = true; // as the kernel: WARN, and the end is still delivered
                        }
                    } catch (Throwable t) {
                        failure = addFailure(failure, t);
                        ok = false;
                    }
                    if (!ok) {
                        if (failed == null) {
                            failed = new boolean[list.length];
                        }
                        failed[i] = true;
                    }
                }
            } finally {
                ctx.exit();
            }
            if (failed != null) {
                // c2655835fd8c: the starts that succeeded expect their end; deliver it now, in
                // this section, where every element of 'list' is still alive.
                for (int i = 0; i < list.length; i++) {
                    if (!failed[i]) {
                        try {
                            call(ctx, Callback.INVALIDATE_RANGE_END, list[i], mm, range, 0, 0);
                        } catch (Throwable t) {
                            failure = addFailure(failure, t);
                        }
                    }
                }
            }
        } finally {
            SRCU.readUnlock(idx);
        }
        if (failed != null) {
            range.state = MmuNotifierRange.ABORTED;
            if (failure != null) {
                rethrow(failure);
            }
            return false;
        }
        range.started = list;
        range.state = MmuNotifierRange.STARTED;
        return true;
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
        endWalk(range, list, onlyEnd);
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
        boolean blockable = range.blockable();
        ExecutionContext ctx = ExecutionContext.current();
        if (blockable) { // before any change: a refused end can be retried
            ctx.mightSleep("PrimaryMmu.invalidateRangeEnd (blockable range)");
        }
        range.started = null;
        range.state = MmuNotifierRange.ENDED;
        MmStruct mm = range.mm();
        Throwable failure = null;
        int idx = SRCU.readLock();
        // The end's frame for the whole walk; invalidateRange nests its atomic frame inside it.
        ctx.enter(blockable ? Callback.INVALIDATE_RANGE_END.frame : Callback.INVALIDATE_RANGE_END.atomicFrame);
        try {
            for (MmuNotifier mn : list) {
                if (!mn.linked) { // unlinked since the start: may be freed (see MmuNotifier's overview)
                    continue;
                }
                // Read after 'linked' (which the link wrote after the stamp): if that read saw a
                // re-link, this sees its newer stamp. A global "any link since the start?" test
                // before the loop would not do: a re-link may land between it and 'linked'.
                if (mn.linkGen > range.startGen) { // unlinked and linked again since the start:
                    continue;                       // that registration never got this start
                }
                MmuNotifierOps<MmuNotifier> o = ops(mn);
                if (!onlyEnd) {
                    ctx.enter(Callback.INVALIDATE_RANGE.frame);
                    try {
                        o.invalidateRange(mn, mm, range.start(), range.end());
                    } catch (Throwable t) {
                        failure = addFailure(failure, t);
                    } finally {
                        ctx.exit();
                    }
                }
                try {
                    o.invalidateRangeEnd(mn, range);
                } catch (Throwable t) {
                    failure = addFailure(failure, t);
                }
            }
        } finally {
            ctx.exit();
            SRCU.readUnlock(idx);
        }
        if (failure != null) {
            rethrow(failure);
        }
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
        if (s == null) {
            return null;
        }
        ExecutionContext ctx = ExecutionContext.current();
        Throwable failure = null;
        int idx = SRCU.readLock();
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
            SRCU.readUnlock(idx);
            s.unlinkAll();
        }
        SRCU.synchronize();
        return failure;
    }

    /** unregister's release of one notifier, in a read section; returns what it threw, or null. */
    static Throwable releaseOne(MmuNotifier mn, MmStruct mm) {
        ExecutionContext ctx = ExecutionContext.current();
        int idx = SRCU.readLock();
        try {
            call(ctx, Callback.RELEASE, mn, mm, null, 0, 0);
            return null;
        } catch (Throwable t) {
            return t;
        } finally {
            SRCU.readUnlock(idx);
        }
    }

    /** Calls freeNotifier in its (atomic) frame. */
    static void free(MmuNotifier mn) {
        call(ExecutionContext.current(), Callback.FREE_NOTIFIER, mn, mn.mm, null, 0, 0);
    }

    // ================================================================== failures

    static Throwable addFailure(Throwable first, Throwable t) {
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
