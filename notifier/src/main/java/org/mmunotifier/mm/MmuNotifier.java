package org.mmunotifier.mm;

import static org.mmunotifier.mm.NotifierDomain.CONTEXT;
import static org.mmunotifier.mm.NotifierDomain.SRCU;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Objects;

/**
 * A subscription of a secondary MMU to the changes of one address space (Linux
 * {@code struct mmu_notifier}), and, as static methods, the kernel's {@code mmu_notifier_*}
 * functions: registration ({@link #get}, {@link #put}, {@link #register}, {@link #unregister},
 * {@link #synchronize()}) and the events the address space sends
 * ({@link #invalidateRangeStart}, {@link #invalidateRangeEnd}, {@link #clearFlushYoung}, ...).
 *
 * <p>Drivers subclass it (Java's {@code container_of}): the callbacks of
 * {@link MmuNotifierOps}{@code <N>} receive the driver's own subclass.
 *
 * <p><b>Events</b> ({@code invalidateRange*}, {@code *Young}, {@code changePte}) call the
 * callbacks on the calling thread, newest registration first, inside a read section of the
 * notifier SRCU domain. Memory consistency effects of every event method: actions before the
 * call happen-before the callbacks it runs, and their actions happen-before its return (program
 * order); a registration that returned before the event began happens-before the callbacks on
 * the new notifier.
 *
 * <pre>{@code
 * // one subscription per (ops, mm), shared by every object of the driver that mirrors mm
 * Mirror m = MmuNotifier.get(MIRROR_OPS, mm);   // allocNotifier on the first get only
 * ...
 * MmuNotifier.put(m);                           // the last put frees it after a grace period
 * // module shutdown:
 * MmuNotifier.synchronize();                    // every deferred freeNotifier has completed
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
     *   mm        set by registration before publication (B-3); volatile
     *   users     read and written under mm.subscriptions' monitor (after publication)
     *   linked    written under that monitor; volatile
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
     *                                       put(mn): users -> 0, linked = false, unlink,
     *                                                callSrcu(free)
     * mn.linked?  true  -> the grace period of callSrcu began after our readLock, so it waits
     *                      for us: mn.ops().invalidateRangeEnd(mn) runs on live state
     *             false -> skip mn             [Required: never call a callback on freed state]
     * SRCU.readUnlock(idx)
     *                                       freeNotifier(mn), mmdrop(mm)
     *
     * If the read of linked misses the unlink, our section began before the free's grace period
     * (SRCU's guarantee: a section not waited for sees every write before callSrcu), so the free
     * waits for us.
     */

    private static final System.Logger LOG = System.getLogger(MmuNotifier.class.getName());

    /** The users limit of get (the kernel's UINT_MAX); lowered by tests. */
    static volatile int usersLimit = Integer.MAX_VALUE;

    MmuNotifierOps<?> ops;
    volatile MmStruct mm;
    int users;
    volatile boolean linked;
    /**
     * Stamp of the current link, from {@link Subscriptions#LINK_GEN}: written under the list
     * monitor before {@code linked = true}, read after reading {@code linked}. The end of an
     * invalidation delivers only to links no newer than its start (see endCore).
     */
    long linkGen;
    @SuppressWarnings("unused") // accessed through RELEASED
    private volatile int released;
    /**
     * The mm this object is registered on, from the claim at the top of registration until
     * unregister has returned, the deferred free has run, or the registration failed; null
     * otherwise. Claimed by CAS, so that one object is never registered twice at once (on one mm
     * or on two, under different mmap locks).
     */
    @SuppressWarnings("unused") // accessed through OWNER
    private volatile MmStruct owner;

    /**
     * For notifiers returned by {@link MmuNotifierOps#allocNotifier}: {@link #getLocked} sets the
     * ops, as the kernel does.
     */
    protected MmuNotifier() {
    }

    /**
     * For notifiers registered with {@link #register} or {@link #registerLocked}.
     *
     * @param ops the callbacks; must accept this object's class as {@code N}
     * @throws NullPointerException if {@code ops} is null
     */
    protected MmuNotifier(MmuNotifierOps<?> ops) {
        this.ops = Objects.requireNonNull(ops, "ops");
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

    // ================================================================== registration

    /**
     * Registers {@code mn} on {@code mm} (Linux {@code mmu_notifier_register}): takes the mmap
     * lock for write around {@link #registerLocked}.
     *
     * <p><b>Locking:</b> the caller must not hold the mmap lock of {@code mm} for read, and must
     * hold a user reference of {@code mm} ({@link MmStruct#mmget()}).
     * <p><b>Context:</b> blocks; not from a non-blockable callback.
     * <p><b>Pairing:</b> one {@link #unregister}, or (B-9) one {@link #put}; never both.
     * <p><b>Memory consistency effects:</b> actions before the call happen-before every callback
     * on {@code mn}; every invalidation that starts after the return calls {@code mn}.
     *
     * @param mn a notifier constructed with its ops, not registered
     * @param mm the address space
     * @throws IllegalStateException if {@code mn} has no ops or is already registered, if
     *     {@code mm} has no users, if the thread is interrupted (the kernel's {@code -EINTR}; the
     *     interrupt status stays set), or in a non-blockable callback; nothing is registered
     */
    public static void register(MmuNotifier mn, MmStruct mm) {
        NotifierDomain.checkMayBlock("MmuNotifier.register");
        Objects.requireNonNull(mm, "mm");
        mm.mmapWriteLock();
        try {
            registerLocked(mn, mm);
        } finally {
            mm.mmapWriteUnlock();
        }
    }

    /**
     * Registers {@code mn} on {@code mm} with the mmap lock already held for write (Linux
     * {@code __mmu_notifier_register}). The notifier is linked at the head of the list (newest
     * first). No duplicate detection by ops: two notifiers with the same ops may both be
     * registered (B-7).
     *
     * <p><b>Locking:</b> the calling thread must hold {@code mm}'s mmap lock for write (asserted).
     * Otherwise as {@link #register}.
     *
     * @param mn a notifier constructed with its ops, not registered
     * @param mm the address space
     * @throws IllegalStateException if the thread does not hold the mmap write lock, and in the
     *     cases of {@link #register}; nothing is registered
     */
    public static void registerLocked(MmuNotifier mn, MmStruct mm) {
        NotifierDomain.checkMayBlock("MmuNotifier.registerLocked");
        Objects.requireNonNull(mn, "mn");
        Objects.requireNonNull(mm, "mm");
        mm.assertMmapWriteLocked();
        if (mn.ops == null) {
            throw new IllegalStateException("MmuNotifier.register: " + mn + " has no ops; construct it with "
                    + "MmuNotifier(ops), or obtain it with MmuNotifier.get(ops, mm)");
        }
        registerHeld(mn, mm);
    }

    /** __mmu_notifier_register proper; the mmap write lock is held and mn.ops is set. */
    private static void registerHeld(MmuNotifier mn, MmStruct mm) {
        if (mm.users() <= 0) {
            throw new IllegalStateException("MmuNotifier.register on " + mm + ", which has no users (it has "
                    + "exited); the caller must hold a user reference");
        }
        if (!OWNER.compareAndSet(mn, null, mm)) {
            throw new AlreadyRegistered(mn);
        }
        mn.mm = mm;     // B-3: before anything that can fail
        mn.users = 1;
        RELEASED.setVolatile(mn, 0);
        Subscriptions s = mm.subscriptions;
        Subscriptions fresh = s == null ? new Subscriptions() : null; // B-4
        if (Thread.currentThread().isInterrupted()) { // B-5: mm_take_all_locks' -EINTR
            mn.users = 0; // a put or unregister of this never-registered notifier is refused
            OWNER.setVolatile(mn, null);
            throw new IllegalStateException("MmuNotifier.register interrupted (the kernel's -EINTR): "
                    + "nothing was registered", new InterruptedException());
        }
        mm.mmgrab(); // B-6, paired with the mmdrop of unregister or of the deferred free
        if (fresh != null) {
            mm.subscriptions = fresh; // the volatile store publishes it; the mmap write lock keeps it unique
            s = fresh;
        }
        if (!s.link(mn, mm)) { // the caller did not pin mm_users, and exit won the race
            mn.users = 0;
            OWNER.setVolatile(mn, null);
            mm.mmdrop();
            throw new IllegalStateException("MmuNotifier.register on " + mm + ", which exited during the "
                    + "registration; the caller must hold a user reference. Nothing was registered");
        }
    }

    /**
     * Returns the notifier of {@code ops} on {@code mm}, with one more user, allocating and
     * registering it with {@link MmuNotifierOps#allocNotifier} if there is none (Linux
     * {@code mmu_notifier_get}): takes the mmap lock for write around {@link #getLocked}.
     *
     * <p><b>Locking:</b> the caller must not hold the mmap lock of {@code mm} for read, and must
     * hold a user reference of {@code mm}.
     * <p><b>Context:</b> blocks; not from a non-blockable callback.
     * <p><b>Pairing:</b> exactly one {@link #put} per get.
     *
     * @param <N> the driver's notifier type
     * @param ops the driver's ops; its identity is the key
     * @param mm the address space
     * @return the notifier, whose {@link #mm()} stays valid until the matching put
     * @throws IllegalStateException as {@link #getLocked}, or in a non-blockable callback
     */
    public static <N extends MmuNotifier> N get(MmuNotifierOps<N> ops, MmStruct mm) {
        NotifierDomain.checkMayBlock("MmuNotifier.get");
        Objects.requireNonNull(mm, "mm");
        mm.mmapWriteLock();
        try {
            return getLocked(ops, mm);
        } finally {
            mm.mmapWriteUnlock();
        }
    }

    /**
     * {@link #get} with the mmap lock already held for write (Linux
     * {@code mmu_notifier_get_locked}). The first linked notifier whose ops is {@code ops} (by
     * identity) gains a user; if there is none, {@code ops.allocNotifier(mm)} is called (with the
     * lock held), its ops set to {@code ops}, and it is registered with one user. Gets on one mm
     * are serialized by the lock: N concurrent gets allocate once and leave N users.
     *
     * <p><b>Locking:</b> the calling thread must hold {@code mm}'s mmap lock for write (asserted).
     * <p><b>Memory consistency effects:</b> actions of {@code allocNotifier} happen-before every
     * callback on the notifier.
     *
     * @param <N> the driver's notifier type
     * @param ops the driver's ops; its identity is the key
     * @param mm the address space
     * @return the notifier
     * @throws IllegalStateException if the thread does not hold the mmap write lock; if {@code mm}
     *     has no users; if the notifier is at the users limit (the kernel's {@code -EOVERFLOW};
     *     nothing changes); if {@code allocNotifier} returned null or a registered notifier
     *     (nothing registered); if registration fails after allocation (e.g. the thread is
     *     interrupted): then {@code freeNotifier} has been called once, synchronously
     * @throws RuntimeException thrown by {@code allocNotifier}, unchanged; nothing registered
     */
    @SuppressWarnings("unchecked")
    public static <N extends MmuNotifier> N getLocked(MmuNotifierOps<N> ops, MmStruct mm) {
        NotifierDomain.checkMayBlock("MmuNotifier.getLocked");
        Objects.requireNonNull(ops, "ops");
        Objects.requireNonNull(mm, "mm");
        mm.assertMmapWriteLocked();
        if (mm.users() <= 0) {
            throw new IllegalStateException("MmuNotifier.get on " + mm + ", which has no users (it has "
                    + "exited); the caller must hold a user reference");
        }
        Subscriptions s = mm.subscriptions;
        if (s != null) {
            MmuNotifier found = s.findGet(ops); // B-8, B-11
            if (found != null) {
                return (N) found;
            }
        }
        N mn = ops.allocNotifier(mm); // B-12: an exception passes through unchanged
        if (mn == null) {
            throw new IllegalStateException("MmuNotifier.get: " + ops.getClass().getName()
                    + ".allocNotifier returned null; nothing was registered");
        }
        if (((MmuNotifier) mn).owner != null) {
            throw new IllegalStateException("MmuNotifier.get: " + ops.getClass().getName()
                    + ".allocNotifier returned " + mn + ", which is already registered (or its free is still "
                    + "pending); nothing was registered");
        }
        mn.ops = ops;
        try {
            registerHeld(mn, mm);
        } catch (AlreadyRegistered e) { // registered elsewhere meanwhile: not ours to free
            throw new IllegalStateException("MmuNotifier.get: " + ops.getClass().getName()
                    + ".allocNotifier returned " + mn + ", which another thread registered meanwhile; "
                    + "nothing was registered", e);
        } catch (RuntimeException | Error e) { // B-13: never published, so free at once
            try {
                ops.freeNotifier(mn);
            } catch (Throwable t) {
                e.addSuppressed(t);
            }
            throw e;
        }
        return mn;
    }

    /**
     * Drops a reference taken by {@link #get} (Linux {@code mmu_notifier_put}). The last put
     * unlinks the notifier at once (no invalidation that starts afterwards sees it) and, after an
     * SRCU grace period, calls {@link MmuNotifierOps#freeNotifier} and then drops the notifier's
     * reference to {@code mm}: no callback on the notifier is running then, and none will run.
     * Put never calls {@code release}: drop the secondary mappings before the last put (B-19).
     *
     * <p><b>Locking:</b> none needed; takes the per-mm list lock briefly.
     * <p><b>Context:</b> never blocks; may be called from any callback, including {@code release}
     * and non-blockable ones, and after the mm has exited.
     * <p><b>Pairing:</b> exactly one put per get. A module that puts must call
     * {@link #synchronize()} before it unloads its code.
     * <p><b>Memory consistency effects:</b> actions before the last put happen-before
     * {@code freeNotifier}.
     *
     * @param mn the notifier
     * @throws IllegalStateException if {@code mn} was never registered or has no reference left
     *     to drop; nothing changes
     */
    public static void put(MmuNotifier mn) {
        Objects.requireNonNull(mn, "mn");
        MmStruct mm = mn.mm;
        if (mm == null) {
            throw new IllegalStateException("MmuNotifier.put: " + mn + " was never registered");
        }
        Subscriptions s = mm.subscriptions; // set before mn was linked, never cleared
        if (s == null) {
            throw new IllegalStateException("MmuNotifier.put: " + mn + " was never registered");
        }
        synchronized (s) {
            if (mn.users == 0) {
                throw new IllegalStateException("MmuNotifier.put: " + mn + " has no reference left to drop "
                        + "(a put without its get); nothing changed");
            }
            if (--mn.users > 0) {
                return;
            }
            if (mn.linked) { // B-20: exit may have unlinked it already
                s.unlinkHeld(mn);
            }
        }
        SRCU.callSrcu(new DeferredFree(mn, mm)); // B-16
    }

    /** Registration refused because the object is already registered (its owner claim failed). */
    private static final class AlreadyRegistered extends IllegalStateException {
        private static final long serialVersionUID = 1L;

        AlreadyRegistered(MmuNotifier mn) {
            super("MmuNotifier.register: " + mn + " is already registered (on " + mn.owner + "), or the "
                    + "deferred free of its last put has not run yet; nothing changed");
        }
    }

    /** The queued free; named so that the domain's error log says which notifier failed. */
    private static final class DeferredFree implements Runnable {
        private final MmuNotifier mn;
        private final MmStruct mm;

        DeferredFree(MmuNotifier mn, MmStruct mm) {
            this.mn = mn;
            this.mm = mm;
        }

        @Override
        public void run() {
            freeDeferred(mn, mm);
        }

        @Override
        public String toString() {
            return "freeNotifier(" + mn + ") of " + mn.ops.getClass().getName();
        }
    }

    /** mmu_notifier_free_rcu (B-17): runs on the SRCU callback thread after a grace period. */
    private static void freeDeferred(MmuNotifier mn, MmStruct mm) {
        NotifierDomain.Context c = CONTEXT.get();
        c.inFree++;
        try {
            ops(mn).freeNotifier(mn);
        } finally {
            c.inFree--;
            mm.mmdrop();
            OWNER.setVolatile(mn, null); // a pooled object may be handed out again by allocNotifier
        }
    }

    /**
     * Unregisters a notifier registered with {@link #register} (Linux
     * {@code mmu_notifier_unregister}). If it is still linked, its {@code release} runs (unless
     * the exit path has already run it: at most once, see B-25), then it is unlinked; then the
     * call waits for every callback in progress (including a {@code release} run by a racing
     * exit) and drops the notifier's reference to {@code mm}. After the return no method of
     * {@code mn} is running or will run: the caller may dispose of it at once.
     *
     * <p><b>Context:</b> blocks; must not be called from a callback (it would wait for itself) or
     * from {@code freeNotifier}.
     * <p><b>Pairing:</b> one per {@link #register}; never mixed with {@link #put} on the same
     * registration.
     * <p><b>Memory consistency effects:</b> actions of every callback on {@code mn} happen-before
     * the return.
     *
     * @param mn the notifier
     * @param mm the mm it was registered on
     * @throws IllegalStateException if called from a callback, if {@code mn} is not registered on
     *     {@code mm} or was already unregistered or put, or if {@code mm} is destroyed; nothing
     *     changes
     * @throws RuntimeException thrown by {@code release}, after the unregistration has completed
     */
    public static void unregister(MmuNotifier mn, MmStruct mm) {
        NotifierDomain.checkMayWaitForDomain("MmuNotifier.unregister");
        Objects.requireNonNull(mn, "mn");
        Objects.requireNonNull(mm, "mm");
        if (mm.count() <= 0) { // B-22
            throw new IllegalStateException("MmuNotifier.unregister on " + mm + ", which is destroyed");
        }
        if (mn.mm != mm) {
            throw new IllegalStateException("MmuNotifier.unregister: " + mn + " is not registered on " + mm);
        }
        Subscriptions s = mm.subscriptions;
        if (s == null) {
            throw new IllegalStateException("MmuNotifier.unregister: " + mn + " is not registered on " + mm);
        }
        synchronized (s) {
            if (mn.users == 0) {
                throw new IllegalStateException("MmuNotifier.unregister: " + mn
                        + " is not registered, or was already unregistered or put; nothing changed");
            }
            if (mn.users > 1) { // B-9: get found this registration; those references need put
                throw new IllegalStateException("MmuNotifier.unregister: " + mn + " also has " + (mn.users - 1)
                        + " reference(s) from get(); drop them with put() (and then use put, not unregister, "
                        + "for the registration: never mix the two); nothing changed");
            }
            mn.users = 0; // from here on findGet skips it: a racing get allocates a fresh notifier
        }
        Throwable failure = null;
        if (mn.linked) { // B-23
            if (RELEASED.compareAndSet(mn, 0, 1)) {
                int idx = SRCU.readLock();
                try {
                    ops(mn).release(mn, mm);
                } catch (Throwable t) {
                    failure = t;
                } finally {
                    SRCU.readUnlock(idx);
                }
            }
            s.unlink(mn);
        }
        SRCU.synchronize(); // B-24: waits for every running callback, including exit's release
        mm.mmdrop();
        OWNER.setVolatile(mn, null); // last: the object may be registered again from here on
        if (failure != null) {
            rethrow(failure);
        }
    }

    /**
     * Waits until every deferred free queued by a {@link #put} before this call has completed
     * (Linux {@code mmu_notifier_synchronize}, with barrier semantics: B-21), and for every
     * callback running when it was called. Call it in module shutdown after the last put, before
     * the ops' code or state goes away.
     *
     * <p><b>Context:</b> blocks; must not be called from a callback or from {@code freeNotifier}.
     * <p><b>Memory consistency effects:</b> actions of those {@code freeNotifier} calls happen-before
     * the return.
     *
     * @throws IllegalStateException if called from a callback or from {@code freeNotifier}
     */
    public static void synchronize() {
        NotifierDomain.checkMayWaitForDomain("MmuNotifier.synchronize()");
        SRCU.synchronize(); // the 5.4 body: running callbacks have finished
        SRCU.barrier();     // srcu_barrier: every free queued before the call has finished
    }

    /** __mmu_notifier_release (B-27), called by the last mmput. */
    static void releaseAll(MmStruct mm) {
        Subscriptions s = mm.subscriptions;
        if (s == null) {
            return;
        }
        Throwable failure = null;
        int idx = SRCU.readLock();
        try {
            for (MmuNotifier mn : s.list) {
                if (RELEASED.compareAndSet(mn, 0, 1)) {
                    try {
                        ops(mn).release(mn, mm);
                    } catch (Throwable t) {
                        failure = addFailure(failure, t);
                    }
                }
            }
        } finally {
            SRCU.readUnlock(idx);
            s.unlinkAll();
        }
        SRCU.synchronize(); // a release run by a racing unregister has finished
        if (failure != null) {
            rethrow(failure);
        }
    }

    // ================================================================== events

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
        if (s == null) {
            range.state = MmuNotifierRange.STARTED;
            return;
        }
        NotifierDomain.checkMayBlock("MmuNotifier.invalidateRangeStart (blockable range)");
        startCore(range, s);
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
        beginStart(range, false);
        Subscriptions s = range.mm().subscriptions;
        if (s == null) {
            range.state = MmuNotifierRange.STARTED;
            return true;
        }
        return startCore(range, s);
    }

    private static void beginStart(MmuNotifierRange range, boolean blockable) {
        if (range.state == MmuNotifierRange.STARTED) {
            throw new IllegalStateException("invalidateRangeStart: " + range + " is already started; "
                    + "end it first (one end per start)");
        }
        range.setBlockable(blockable);
        range.started = null;
    }

    /** __mmu_notifier_invalidate_range_start with per-range tracking. */
    private static boolean startCore(MmuNotifierRange range, Subscriptions s) {
        if (s.list.length == 0) { // a registration racing this load is ordered after the start
            range.state = MmuNotifierRange.STARTED;
            return true;
        }
        boolean blockable = range.blockable();
        Throwable failure = null;
        boolean[] failed = null;
        MmuNotifier[] list;
        int idx = SRCU.readLock();
        try {
            NotifierDomain.Context ctx = blockable ? null : NotifierDomain.enterNonBlock();
            try {
                list = s.list; // loaded inside the section: every element stays alive until readUnlock
                // After the list load: every notifier in 'list' was stamped before it was published,
                // so its stamp is <= this; a later re-link (only possible after an unregister or a
                // free, which wait for this section) gets a larger one.
                range.startGen = Subscriptions.LINK_GEN.get();
                for (int i = 0; i < list.length; i++) {
                    MmuNotifier mn = list[i];
                    boolean ok;
                    try {
                        ok = ops(mn).invalidateRangeStart(mn, range);
                        if (!ok && blockable) {
                            warnBlockableFailure(mn, range);
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
                if (failed != null) {
                    // c2655835fd8c: the starts that succeeded expect their end; deliver it now,
                    // in this section, where every element of 'list' is still alive.
                    for (int i = 0; i < list.length; i++) {
                        if (!failed[i]) {
                            MmuNotifier mn = list[i];
                            try {
                                ops(mn).invalidateRangeEnd(mn, range);
                            } catch (Throwable t) {
                                failure = addFailure(failure, t);
                            }
                        }
                    }
                }
            } finally {
                if (ctx != null) {
                    NotifierDomain.exitNonBlock(ctx);
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

    private static void warnBlockableFailure(MmuNotifier mn, MmuNotifierRange range) {
        LOG.log(System.Logger.Level.WARNING, () -> "invalidateRangeStart of " + mn + " returned false on the "
                + "blockable " + range + ": a blockable start must not fail; ignored, its end will be delivered");
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
        endCore(range, false);
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
        endCore(range, true);
    }

    private static void endCore(MmuNotifierRange range, boolean onlyEnd) {
        byte st = range.state;
        if (st != MmuNotifierRange.STARTED) {
            if (st == MmuNotifierRange.ABORTED) { // the failed start already delivered the ends
                range.state = MmuNotifierRange.ENDED;
                return;
            }
            throw new IllegalStateException("invalidateRangeEnd: " + range
                    + (st == MmuNotifierRange.NEW ? " was never started" : " is already ended")
                    + " (one end per successful start)");
        }
        MmuNotifier[] list = range.started;
        boolean blockable = range.blockable();
        if (list != null && blockable) { // before any change: a refused end can be retried
            NotifierDomain.checkMayBlock("MmuNotifier.invalidateRangeEnd (blockable range)");
        }
        range.started = null;
        range.state = MmuNotifierRange.ENDED;
        if (list == null) {
            return;
        }
        MmStruct mm = range.mm();
        Throwable failure = null;
        int idx = SRCU.readLock();
        try {
            NotifierDomain.Context ctx = blockable ? null : NotifierDomain.enterNonBlock();
            try {
                for (MmuNotifier mn : list) {
                    if (!mn.linked) { // unlinked since the start: may be freed (see Overview)
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
                        try {
                            o.invalidateRange(mn, mm, range.start(), range.end());
                        } catch (Throwable t) {
                            failure = addFailure(failure, t);
                        }
                    }
                    try {
                        o.invalidateRangeEnd(mn, range);
                    } catch (Throwable t) {
                        failure = addFailure(failure, t);
                    }
                }
            } finally {
                if (ctx != null) {
                    NotifierDomain.exitNonBlock(ctx);
                }
            }
        } finally {
            SRCU.readUnlock(idx);
        }
        if (failure != null) {
            rethrow(failure);
        }
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
        Subscriptions s = mm.subscriptions;
        if (s == null) {
            return;
        }
        Throwable failure = null;
        int idx = SRCU.readLock();
        try {
            for (MmuNotifier mn : s.list) {
                try {
                    ops(mn).invalidateRange(mn, mm, start, end);
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
    }

    /**
     * Linux {@code mmu_notifier_clear_flush_young}: calls every linked notifier and ORs the
     * results. <b>Context:</b> never blocks itself.
     *
     * @return whether any secondary mapping in the range had been accessed; false without notifiers
     * @throws RuntimeException the first exception thrown by a callback (the others suppressed)
     */
    public static boolean clearFlushYoung(MmStruct mm, long start, long end) {
        return young(mm, start, end, true);
    }

    /**
     * Linux {@code mmu_notifier_clear_young}: calls every linked notifier and ORs the results.
     * <b>Context:</b> never blocks itself.
     *
     * @return whether any secondary mapping in the range had been accessed; false without notifiers
     * @throws RuntimeException the first exception thrown by a callback (the others suppressed)
     */
    public static boolean clearYoung(MmStruct mm, long start, long end) {
        return young(mm, start, end, false);
    }

    private static boolean young(MmStruct mm, long start, long end, boolean flush) {
        Subscriptions s = mm.subscriptions;
        if (s == null) {
            return false;
        }
        boolean young = false;
        Throwable failure = null;
        int idx = SRCU.readLock();
        try {
            for (MmuNotifier mn : s.list) {
                try {
                    MmuNotifierOps<MmuNotifier> o = ops(mn);
                    young |= flush ? o.clearFlushYoung(mn, mm, start, end) : o.clearYoung(mn, mm, start, end);
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
        return young;
    }

    /**
     * Linux {@code mmu_notifier_test_young}: calls linked notifiers, newest first, until one
     * returns true. <b>Context:</b> never blocks itself.
     *
     * @return whether a secondary mapping of {@code address} was accessed; false without notifiers
     * @throws RuntimeException the first exception thrown by a callback called (others suppressed)
     */
    public static boolean testYoung(MmStruct mm, long address) {
        Subscriptions s = mm.subscriptions;
        if (s == null) {
            return false;
        }
        Throwable failure = null;
        boolean young = false;
        int idx = SRCU.readLock();
        try {
            for (MmuNotifier mn : s.list) {
                try {
                    if (ops(mn).testYoung(mn, mm, address)) {
                        young = true;
                        break;
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
        return young;
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
        Subscriptions s = mm.subscriptions;
        if (s == null) {
            return;
        }
        Throwable failure = null;
        int idx = SRCU.readLock();
        try {
            for (MmuNotifier mn : s.list) {
                try {
                    ops(mn).changePte(mn, mm, address, pte);
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
    }

    // ================================================================== helpers

    /** The ops of a published notifier, typed for dispatch (it was registered as an N). */
    @SuppressWarnings("unchecked")
    static MmuNotifierOps<MmuNotifier> ops(MmuNotifier mn) {
        return (MmuNotifierOps<MmuNotifier>) mn.ops;
    }

    private static Throwable addFailure(Throwable first, Throwable t) {
        if (first == null) {
            return t;
        }
        if (first != t) {
            first.addSuppressed(t);
        }
        return first;
    }

    private static void rethrow(Throwable t) {
        if (t instanceof RuntimeException) {
            throw (RuntimeException) t;
        }
        if (t instanceof Error) {
            throw (Error) t;
        }
        throw new IllegalStateException("an MMU-notifier callback threw a checked exception", t);
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
