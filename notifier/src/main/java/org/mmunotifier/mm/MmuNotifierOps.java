package org.mmunotifier.mm;

/**
 * The callbacks of a secondary MMU (Linux {@code struct mmu_notifier_ops}). Every callback is a
 * default method that does nothing, as a {@code NULL} op does in the kernel.
 *
 * <p>The ops object's <em>identity</em> is the key of {@link MmuNotifiers#get}: one notifier per
 * (ops, mm). Use one ops instance per driver (a {@code static final} field), or one per domain to
 * key per (domain, mm).
 *
 * <p><b>Context of every callback but {@code allocNotifier}/{@code freeNotifier}:</b> it runs
 * inside a read section of the notifier SRCU domain. It may call {@link MmuNotifiers#put}, but must
 * never wait for that domain: {@link MmuNotifiers#synchronize()}, {@link MmuNotifiers#unregister}
 * and the last {@link MmStruct#mmput()} throw {@link IllegalStateException} there. No callback
 * may take an mmap lock, of any mm (so neither {@code get} nor {@code register}): lockdep reports
 * the cycle through memory reclaim. {@link #invalidateRange}, the young callbacks,
 * {@link #changePte} and {@link #freeNotifier} run in atomic context, as Linux runs them under the
 * page-table lock or from an SRCU callback, and so do the start and end of a non-blockable range:
 * every blocking call of this library (and of {@code org.mmunotifier.srcu}) throws there.
 * Each refusal changes nothing. Any callback may run
 * concurrently with any other callback and with {@code release}, on several threads (B-35);
 * drivers count start/end pairs themselves if they need to. A callback that throws does not stop
 * the others: the exception reaches the caller of the event.
 *
 * @param <N> the driver's notifier type; callbacks receive the driver's own subclass (Java's
 *     {@code container_of}). A notifier passed to {@link MmuNotifiers#register} must be an
 *     instance of {@code N}, or its callbacks fail with {@link ClassCastException}.
 */
public interface MmuNotifierOps<N extends MmuNotifier> {

    /**
     * The address space is going away (the last {@link MmStruct#mmput()}), or {@code mn} is being
     * unregistered. The secondary MMU must drop all its mappings of {@code mm} and stop creating
     * new ones; afterwards callbacks on {@code mn} may still run until the notifier is unlinked,
     * but they have nothing left to do.
     *
     * <p>Called at most once per registration (a deliberate guarantee stronger than Linux 5.4,
     * see B-25 in docs/kernel-mapping.md). Not called by {@link MmuNotifiers#put}: a get/put user
     * must drop its mappings before the last put (B-19). May call {@link MmuNotifiers#put}.
     *
     * @param mn the notifier
     * @param mm the address space
     */
    default void release(N mn, MmStruct mm) {
    }

    /**
     * Clears the accessed bit of the secondary mappings in {@code [start, end)} and flushes them.
     *
     * @return whether any of them had been accessed (results of all notifiers are ORed)
     */
    default boolean clearFlushYoung(N mn, MmStruct mm, long start, long end) {
        return false;
    }

    /**
     * Clears the accessed bit of the secondary mappings in {@code [start, end)} without a flush.
     *
     * @return whether any of them had been accessed (results of all notifiers are ORed)
     */
    default boolean clearYoung(N mn, MmStruct mm, long start, long end) {
        return false;
    }

    /**
     * Tests the accessed bit of the secondary mapping of {@code address}.
     *
     * @return whether it was accessed; the first true ends the walk
     */
    default boolean testYoung(N mn, MmStruct mm, long address) {
        return false;
    }

    /**
     * The primary PTE of {@code address} was changed to {@code pte} (KSM, COW).
     *
     * @deprecated Linux removed {@code change_pte} in 6.10: since 2012 it is always called inside
     *     an invalidateRangeStart/End pair, so it never has work to do.
     */
    @Deprecated
    default void changePte(N mn, MmStruct mm, long address, long pte) {
    }

    /**
     * The primary mappings of {@code range} are about to change: the secondary MMU must drop its
     * mappings of the range and not create new ones until the matching
     * {@link #invalidateRangeEnd}.
     *
     * <p><b>Context:</b> may block only if {@link MmuNotifierRange#blockable()}; when the range
     * is not blockable, every blocking method of this library throws {@link IllegalStateException}
     * in this callback.
     * <p><b>Pairing:</b> if this returns true (or the range is blockable), {@link
     * #invalidateRangeEnd} is called once for the same range, unless the notifier is unlinked
     * (last put, unregister, exit) before the end begins. If it returns false or throws, no end
     * is delivered to this notifier for this range.
     *
     * @return true on success; false only if the range is not blockable and the callback would
     *     have to block (the kernel's {@code -EAGAIN}). False on a blockable range is a contract
     *     violation: it is logged and ignored, as the kernel WARNs.
     */
    default boolean invalidateRangeStart(N mn, MmuNotifierRange range) {
        return true;
    }

    /**
     * The primary mappings of {@code range} have changed; the secondary MMU may map the range
     * again. Delivered only after a successful {@link #invalidateRangeStart} of this notifier for
     * the same range. <b>Context:</b> as {@link #invalidateRangeStart}.
     */
    default void invalidateRangeEnd(N mn, MmuNotifierRange range) {
    }

    /**
     * Invalidate the secondary TLB entries of {@code [start, end)} (an IOMMU sharing the page
     * table). Called under the page-table lock by the primary, or from the end of a range:
     * atomic context, must not block (blocking calls of this library throw).
     */
    default void invalidateRange(N mn, MmStruct mm, long start, long end) {
    }

    /**
     * Allocates the notifier for {@link MmuNotifiers#get}: called with the mmap lock held for write,
     * at most once per (ops, mm) while a notifier for them is linked. The result must be fully
     * ready to receive callbacks: it is published before {@code get} returns. The library sets its
     * ops to this object.
     *
     * @param mm the address space
     * @return a new notifier, never null
     * @throws UnsupportedOperationException by default: ops used with {@code get} must override
     *     this; an exception thrown here reaches the caller of {@code get} unchanged
     */
    default N allocNotifier(MmStruct mm) {
        throw new UnsupportedOperationException(getClass().getName()
                + " does not override allocNotifier(MmStruct): it cannot be used with MmuNotifiers.get");
    }

    /**
     * Frees a notifier obtained from {@link #allocNotifier} after its last put, once an SRCU grace
     * period has passed: no callback on {@code mn} is running or will run. Also called at once if
     * registration fails after allocation.
     *
     * <p><b>Context:</b> atomic: runs on the notifier domain's callback thread as an SRCU callback,
     * or at once on the thread of a failed {@code get}; must not block (blocking calls of this
     * library throw there). It may {@link MmuNotifiers#put} other notifiers.
     * <p><b>Memory consistency effects:</b> actions before the last put, and actions of every
     * callback on {@code mn}, happen-before this call.
     */
    default void freeNotifier(N mn) {
    }
}
