package org.mmunotifier.mm;

/**
 * What the owner of a primary page table calls when it changes (the kernel's
 * {@code mmu_notifier_invalidate_range_start/end}, {@code mmu_notifier_invalidate_range}, the
 * young tests and {@code mmu_notifier_change_pte}): the core-mm side of the notifier API.
 *
 * <p>Each method calls the callbacks on the calling thread, newest registration first, inside a
 * read section of the notifier SRCU domain, and runs each callback in the context that Linux 5.4
 * runs it in: {@code invalidateRange}, the young callbacks and {@code changePte} under the
 * page-table lock (atomic: blocking library calls throw there), the start and end of a range in
 * a sleepable context only when the range is blockable. No callback may take an mmap lock.
 *
 * <p><b>Interval notifiers</b> (Linux 5.5): a range's start first calls
 * {@link MmuIntervalNotifierOps#invalidate} on every interval subscription that overlaps it (no
 * SRCU section, and nothing at all for intervals that do not overlap), then the list notifiers;
 * a non-blockable refusal there fails the start before the list is reached. The end closes the
 * interval pass first, then calls the list notifiers' ends. With no list notifier, no SRCU read
 * section is entered.
 *
 * <p><b>Memory consistency effects:</b> actions before the call happen-before the callbacks it
 * runs, and their actions happen-before its return (program order); a registration that returned
 * before the event began happens-before the callbacks on the new notifier.
 *
 * <p><b>A destroyed mm</b> (its last {@link MmStruct#mmdrop()} has run) refuses every event with
 * {@link IllegalStateException}; an mm without notifiers costs one load and a null check.
 */
public final class PrimaryMmu {
    private PrimaryMmu() {
    }

    /**
     * Announces that the primary mappings of {@code range} are about to change (Linux
     * {@code mmu_notifier_invalidate_range_start}); marks the range blockable. Every linked
     * notifier's {@link MmuNotifierOps#invalidateRangeStart} is called, newest first, inside one
     * SRCU read section. On an mm with no notifiers this costs one load and a null check.
     *
     * <p><b>Context:</b> may block (the callbacks may); not from a non-blockable callback.
     * <p><b>Pairing:</b> exactly one {@link #invalidateRangeEnd} or {@link #invalidateRangeOnlyEnd}
     * with the same range, unless this throws. The end is delivered to exactly the notifiers this
     * start called, minus those unlinked in between.
     *
     * @param range the range; not started
     * @throws IllegalStateException if the range is already started, or in a non-blockable
     *     callback
     * @throws RuntimeException the first exception thrown by a callback (the others suppressed):
     *     every other notifier was still called, those whose start succeeded have already received
     *     their end, and the range counts as not started (do not end it; ending it is a no-op)
     */
    public static void invalidateRangeStart(MmuNotifierRange range) {
        beginStart(range, true);
        Subscriptions s = range.mm().subscriptions;
        if (s == null) { // mm_has_notifiers(): one load and a null check
            range.state = MmuNotifierRange.STARTED;
            return;
        }
        if (s == Subscriptions.POISON) {
            throw range.mm().destroyedError("PrimaryMmu.invalidateRangeStart");
        }
        Dispatch.start(range, s, true);
    }

    /**
     * The non-blocking form of {@link #invalidateRangeStart} (Linux
     * {@code mmu_notifier_invalidate_range_start_nonblock}, with the 5.12 pairing fix): marks the
     * range non-blockable; callbacks that would have to block return false. Every notifier is
     * called even after a failure. If any failed, the notifiers whose start succeeded receive
     * their {@code invalidateRangeEnd} before this returns false, and the caller must neither
     * touch the primary mappings nor end the range (ending it anyway is a no-op).
     *
     * <p><b>Context:</b> never blocks itself; while the callbacks run, every blocking method of
     * this library throws on this thread.
     *
     * @param range the range; not started
     * @return true if every start succeeded: end the range later; false otherwise
     * @throws IllegalStateException if the range is already started
     * @throws RuntimeException as {@link #invalidateRangeStart}
     */
    public static boolean invalidateRangeStartNonblock(MmuNotifierRange range) {
        return startNonblock(range, true, "PrimaryMmu.invalidateRangeStartNonblock");
    }

    /**
     * Linux 5.4's own {@code mmu_notifier_invalidate_range_start_nonblock}, bug included: as
     * {@link #invalidateRangeStartNonblock}, except that when a start fails, the notifiers whose
     * start succeeded receive <em>no</em> end, now or later. This is the bug that 5.12 fixed
     * (c2655835fd8c, "mm/mmu_notifiers: ensure range_end() is paired with range_start()"): a
     * driver that counts invalidations in at its start (KVM's {@code mmu_notifier_count}) is left
     * with the count raised for good, and its faults retry until the mm dies.
     *
     * <p>It exists so that a model of the 5.4 kernel can reproduce that bug (the simulator's
     * {@code --inject oom-reaper-unpaired-end}); code that means to be correct calls
     * {@link #invalidateRangeStartNonblock}. The range is left as after a failed start of that
     * method: the caller must neither touch the primary mappings nor end it (ending it is a
     * no-op).
     *
     * <p><b>Context:</b> as {@link #invalidateRangeStartNonblock}.
     *
     * @param range the range; not started
     * @return true if every start succeeded: end the range later; false otherwise, with the
     *     successful starts left unpaired
     * @throws IllegalStateException if the range is already started
     * @throws RuntimeException as {@link #invalidateRangeStart}, with no end delivered either
     */
    public static boolean invalidateRangeStartNonblockUnpaired(MmuNotifierRange range) {
        return startNonblock(range, false, "PrimaryMmu.invalidateRangeStartNonblockUnpaired");
    }

    private static boolean startNonblock(MmuNotifierRange range, boolean pairEnds, String op) {
        beginStart(range, false);
        Subscriptions s = range.mm().subscriptions;
        if (s == null) {
            range.state = MmuNotifierRange.STARTED;
            return true;
        }
        if (s == Subscriptions.POISON) {
            throw range.mm().destroyedError(op);
        }
        return Dispatch.start(range, s, pairEnds);
    }

    /**
     * Announces that the primary mappings of a started range have changed (Linux
     * {@code mmu_notifier_invalidate_range_end}): for each notifier whose start succeeded and
     * that is still linked, in list order, {@link MmuNotifierOps#invalidateRange} and then
     * {@link MmuNotifierOps#invalidateRangeEnd}, inside one SRCU read section.
     *
     * <p><b>Context:</b> may block if the range is blockable (then not from a non-blockable
     * callback).
     * <p><b>Pairing:</b> ends the start of the same range; the range may then be started again.
     *
     * @param range a started range (or one whose start failed: then a no-op)
     * @throws IllegalStateException if the range was not started or is already ended
     * @throws RuntimeException the first exception thrown by a callback (the others suppressed);
     *     every other notifier was still called and the range is ended
     */
    public static void invalidateRangeEnd(MmuNotifierRange range) {
        Dispatch.end(range, false);
    }

    /**
     * As {@link #invalidateRangeEnd}, without calling {@link MmuNotifierOps#invalidateRange}
     * (Linux {@code mmu_notifier_invalidate_range_only_end}): for callers that already called
     * {@link #invalidateRange} under the page-table lock.
     *
     * @param range a started range
     * @throws IllegalStateException if the range was not started or is already ended
     * @throws RuntimeException as {@link #invalidateRangeEnd}
     */
    public static void invalidateRangeOnlyEnd(MmuNotifierRange range) {
        Dispatch.end(range, true);
    }

    /**
     * Tells every linked notifier to invalidate its TLB entries of {@code [start, end)} (Linux
     * {@code mmu_notifier_invalidate_range}). Called under the primary's page-table lock.
     *
     * <p><b>Context:</b> never blocks itself; the callbacks must not block.
     *
     * @param mm the address space
     * @param start first address
     * @param end first address after the range
     * @throws RuntimeException the first exception thrown by a callback (the others suppressed)
     */
    public static void invalidateRange(MmStruct mm, long start, long end) {
        Dispatch.walk(Dispatch.Callback.INVALIDATE_RANGE, mm, start, end);
    }

    /**
     * Linux {@code mmu_notifier_clear_flush_young}: calls every linked notifier and ORs the
     * results. <b>Context:</b> never blocks itself.
     *
     * @return whether any secondary mapping in the range had been accessed; false without notifiers
     * @throws RuntimeException the first exception thrown by a callback (the others suppressed)
     */
    public static boolean clearFlushYoung(MmStruct mm, long start, long end) {
        return Dispatch.walk(Dispatch.Callback.CLEAR_FLUSH_YOUNG, mm, start, end);
    }

    /**
     * Linux {@code mmu_notifier_clear_young}: calls every linked notifier and ORs the results.
     * <b>Context:</b> never blocks itself.
     *
     * @return whether any secondary mapping in the range had been accessed; false without notifiers
     * @throws RuntimeException the first exception thrown by a callback (the others suppressed)
     */
    public static boolean clearYoung(MmStruct mm, long start, long end) {
        return Dispatch.walk(Dispatch.Callback.CLEAR_YOUNG, mm, start, end);
    }

    /**
     * Linux {@code mmu_notifier_test_young}: calls linked notifiers, newest first, until one
     * returns true. <b>Context:</b> never blocks itself.
     *
     * @return whether a secondary mapping of {@code address} was accessed; false without notifiers
     * @throws RuntimeException the first exception thrown by a callback called (others suppressed)
     */
    public static boolean testYoung(MmStruct mm, long address) {
        return Dispatch.walk(Dispatch.Callback.TEST_YOUNG, mm, address, 0);
    }

    /**
     * Linux {@code mmu_notifier_change_pte}: calls every linked notifier's
     * {@link MmuNotifierOps#changePte}. <b>Context:</b> never blocks itself.
     *
     * @deprecated removed in Linux 6.10: always called inside a start/end pair, where it has
     *     nothing to do.
     * @throws RuntimeException the first exception thrown by a callback (the others suppressed)
     */
    @Deprecated
    public static void changePte(MmStruct mm, long address, long pte) {
        Dispatch.walk(Dispatch.Callback.CHANGE_PTE, mm, address, pte);
    }

    private static void beginStart(MmuNotifierRange range, boolean blockable) {
        if (range.state == MmuNotifierRange.STARTED) {
            throw new IllegalStateException("PrimaryMmu.invalidateRangeStart: " + range + " is already started; "
                    + "end it first (one end per start)");
        }
        range.setBlockable(blockable);
        range.started = null;
        // range.itree is null here: only a successful start sets it, and every end or failure
        // clears it (no store on this path: it is the no-notifier fast path)
    }
}
