package org.mmunotifier.mm;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Objects;

/**
 * A subscription of a secondary MMU to the changes of one address space (Linux
 * {@code struct mmu_notifier}): the driver's base type. Drivers subclass it (Java's
 * {@code container_of}); the callbacks of {@link MmuNotifierOps}{@code <N>} receive the driver's
 * own subclass. It has no static API, so a driver's namespace holds only its own names:
 *
 * <ul>
 *   <li>{@link MmuNotifiers}: what a driver calls to subscribe and unsubscribe
 *       ({@code mmu_notifier_get/put/register/unregister/synchronize});</li>
 *   <li>{@link PrimaryMmu}: what the owner of the primary page table calls when it changes
 *       ({@code mmu_notifier_invalidate_range_start/end}, the young callbacks, ...);</li>
 *   <li>{@link MmStruct#mmput()}: the exit path.</li>
 * </ul>
 *
 * <pre>{@code
 * // one subscription per (ops, mm), shared by every object of the driver that mirrors mm
 * Mirror m = MmuNotifiers.get(MIRROR_OPS, mm);   // allocNotifier on the first get only
 * ...
 * MmuNotifiers.put(m);                           // the last put frees it after a grace period
 * // module shutdown:
 * MmuNotifiers.synchronize();                    // every deferred freeNotifier has completed
 * }</pre>
 */
public class MmuNotifier {
    /*
     * Overview
     * --------
     * One static SRCU domain (NotifierDomain.SRCU) covers every mm. Each mm has, from its first
     * registration on, a Subscriptions object: a copy-on-write array of linked notifiers, newest
     * first, written under the Subscriptions monitor and read under SRCU. Every callback runs
     * inside a read section of the domain, so a notifier that has been unlinked can still receive
     * callbacks from sections that loaded the old array; the last put therefore unlinks at once
     * and defers freeNotifier (and the notifier's mmdrop) with callSrcu until those sections have
     * ended. That is the get/put scheme of 2c7933f53f6b.
     *
     * Guards of a notifier's fields
     * -----------------------------
     *   ops       set by the constructor or by getLocked before the notifier is published; then
     *             read-only (published by the volatile store of Subscriptions.list)
     *   implemented  the callbacks ops' class overrides (Dispatch.implemented); written with ops,
     *             guarded as ops
     *   mm        set by registration before publication (B-3); volatile
     *   users     read and written under mm.subscriptions' monitor (after publication)
     *   linkStamp written under that monitor; volatile (UNLINKED, or the stamp of the link)
     *   released  CAS from 0 to 1 by whoever calls release (exit or unregister): at most once
     *
     * Start/end pairing
     * -----------------
     * A start loads the array once inside its read section and records it in the range when every
     * start succeeded. The end walks that recorded array in a read section of its own and skips
     * notifiers that are no longer linked. So: (a) a notifier registered after the start's load
     * gets no end for that range; (b) a notifier whose start failed gets no end: a failed start
     * (non-blocking -EAGAIN, or a callback that threw) ends the successful starts itself, in the
     * same read section, and leaves the range ABORTED (Linux 5.12, c2655835fd8c); (c) a notifier
     * unlinked between start and end gets no end (the kernel's end walks the live list, which no
     * longer holds it), and it may already be freed, which is why the end must not call it.
     *
     * The linkage check is safe:
     *
     * Ending thread                         Owner thread
     * idx = SRCU.readLock()
     *                                       put(mn): users -> 0, unlink (stamp UNLINKED),
     *                                                callSrcu(free)
     * mn linked?  yes   -> the grace period of callSrcu began after our readLock, so it waits
     *                      for us: mn.ops().invalidateRangeEnd(mn) runs on live state
     *             no    -> skip mn             [Required: never call a callback on freed state]
     * SRCU.readUnlock(idx)
     *                                       freeNotifier(mn), mmdrop(mm)
     *
     * If the read of the stamp misses the unlink, our section began before the free's grace period
     * (SRCU's guarantee: a section not waited for sees every write before callSrcu), so the free
     * waits for us.
     */

    private static final System.Logger LOG = System.getLogger(MmuNotifier.class.getName());

    MmuNotifierOps<?> ops;
    int implemented;
    volatile MmStruct mm;
    int users;
    /**
     * The stamp of the current link, from {@link Subscriptions#LINK_GEN}, or {@link #UNLINKED}:
     * written under the list monitor, volatile read anywhere. One field for "is it linked?" and
     * "since when?", so that the end of an invalidation pays one load per notifier: it delivers
     * only to links no newer than its start, and {@code UNLINKED} is newer than every start.
     */
    volatile long linkStamp = UNLINKED;

    /** {@link #linkStamp} of a notifier that is not linked: larger than every real stamp. */
    static final long UNLINKED = Long.MAX_VALUE;

    /** @return whether this notifier is linked in an mm's list (the kernel's hlist_unhashed) */
    boolean linked() {
        return linkStamp != UNLINKED;
    }
    @SuppressWarnings("unused") // accessed through RELEASED
    private volatile int released;
    /**
     * The mm this object is registered on, from the claim at the top of registration until
     * unregister has returned, the deferred free has run, or the registration failed; null
     * otherwise. Claimed by CAS, so that one object is never registered twice at once (on one mm
     * or on two, under different mmap locks).
     */
    @SuppressWarnings("unused") // accessed through OWNER
    volatile MmStruct owner;

    /**
     * For notifiers returned by {@link MmuNotifierOps#allocNotifier}: {@link MmuNotifiers#getLocked}
     * sets the ops, as the kernel does.
     */
    protected MmuNotifier() {
    }

    /**
     * For notifiers registered with {@link MmuNotifiers#register} or
     * {@link MmuNotifiers#registerLocked}.
     *
     * @param ops the callbacks; must accept this object's class as {@code N}
     * @throws NullPointerException if {@code ops} is null
     */
    protected MmuNotifier(MmuNotifierOps<?> ops) {
        this.ops = Objects.requireNonNull(ops, "ops");
        this.implemented = Dispatch.implemented(ops);
    }

    /** @return the callbacks of this notifier (null before a {@code get} has set them) */
    public final MmuNotifierOps<?> ops() {
        return ops;
    }

    /**
     * The address space this notifier is registered on. It stays valid (its {@code count} is
     * held) until the matching last put or unregister has completed; use
     * {@link MmStruct#mmgetNotZero()} to turn it into an active mm (B-14).
     *
     * @return the mm, or null if the notifier was never registered
     */
    public final MmStruct mm() {
        return mm;
    }

    @Override
    public String toString() {
        return getClass().getSimpleName() + "@" + Integer.toHexString(System.identityHashCode(this));
    }

    // ================================================================== package-private state changes

    /** A new registration: release may run again. */
    final void resetReleased() {
        RELEASED.setVolatile(this, 0);
    }

    /** Whoever wins runs release (exit or unregister): at most once per registration (B-25). */
    final boolean claimRelease() {
        return RELEASED.compareAndSet(this, 0, 1);
    }

    /** Claims the object for one registration on {@code mm}; false if it is registered already. */
    final boolean claimOwner(MmStruct mm) {
        return OWNER.compareAndSet(this, null, mm);
    }

    /** Ends the claim: the object may be registered again. */
    final void releaseOwner() {
        OWNER.setVolatile(this, null);
    }

    static void warnBlockableFailure(MmuNotifier mn, MmuNotifierRange range) {
        LOG.log(System.Logger.Level.WARNING, () -> "invalidateRangeStart of " + mn + " returned false on the "
                + "blockable " + range + ": a blockable start must not fail; ignored, its end will be delivered");
    }

    static void warnIntervalBlockableFailure(MmuIntervalNotifier sub, MmuNotifierRange range) {
        LOG.log(System.Logger.Level.WARNING, () -> "MmuIntervalNotifierOps.invalidate of " + sub + " returned false "
                + "on the blockable " + range + ": only a non-blockable invalidation may be refused; ignored");
    }

    // ================================================================== VarHandle mechanics

    private static final VarHandle RELEASED;
    private static final VarHandle OWNER;

    static {
        try {
            RELEASED = MethodHandles.lookup().findVarHandle(MmuNotifier.class, "released", int.class);
            OWNER = MethodHandles.lookup().findVarHandle(MmuNotifier.class, "owner", MmStruct.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }
}
