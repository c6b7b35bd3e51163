package org.mmunotifier.mm;

import static org.mmunotifier.mm.NotifierDomain.SRCU;

import java.util.Objects;
import org.mmunotifier.srcu.ExecutionContext;

/**
 * What a driver calls to subscribe to an address space and to unsubscribe: the kernel's
 * {@code mmu_notifier_get}, {@code mmu_notifier_put}, {@code mmu_notifier_register},
 * {@code mmu_notifier_unregister} and {@code mmu_notifier_synchronize} (Linux 5.4, with the
 * get/put scheme of 2c7933f53f6b).
 *
 * <pre>{@code
 * // one subscription per (ops, mm), shared by every object of the driver that mirrors mm
 * Mirror m = MmuNotifiers.get(MIRROR_OPS, mm);   // allocNotifier on the first get only
 * ...
 * MmuNotifiers.put(m);                           // the last put frees it after a grace period
 * // module shutdown:
 * MmuNotifiers.synchronize();                    // every deferred freeNotifier has completed
 * }</pre>
 *
 * <p><b>Contexts:</b> every method here but {@link #put} may block: each throws
 * {@link IllegalStateException} in an atomic callback (a non-blockable range's start or end,
 * {@code invalidateRange}, the young callbacks, {@code changePte}, {@code freeNotifier}).
 * {@link #get} and {@link #register} take the mmap lock, which no callback may take;
 * {@link #unregister} and {@link #synchronize()} wait for every callback, so no callback may
 * call them. Each refusal changes nothing.
 */
public final class MmuNotifiers {
    /** The users limit of get (the kernel's UINT_MAX); lowered by tests. */
    static volatile int usersLimit = Integer.MAX_VALUE;

    private MmuNotifiers() {
    }

    /**
     * Registers {@code mn} on {@code mm} (Linux {@code mmu_notifier_register}): takes the mmap
     * lock for write around {@link #registerLocked}.
     *
     * <p><b>Locking:</b> the caller must not hold the mmap lock of {@code mm} for read, and must
     * hold a user reference of {@code mm} ({@link MmStruct#mmget()}).
     * <p><b>Context:</b> blocks; not from any callback (it takes the mmap lock, which no callback
     * may take; from an atomic callback it is also a sleep in atomic context).
     * <p><b>Pairing:</b> one {@link #unregister}, or (B-9) one {@link #put}; never both.
     * <p><b>Memory consistency effects:</b> actions before the call happen-before every callback
     * on {@code mn}; every invalidation that starts after the return calls {@code mn}.
     *
     * @param mn a notifier constructed with its ops, not registered
     * @param mm the address space
     * @throws IllegalStateException if {@code mn} has no ops or is already registered, if
     *     {@code mm} has no users, if the thread is interrupted (the kernel's {@code -EINTR}; the
     *     interrupt status stays set), in a callback, if this thread already holds the mmap lock
     *     of {@code mm}, or if {@code mm} is destroyed; nothing is registered
     */
    public static void register(MmuNotifier mn, MmStruct mm) {
        NotifierDomain.checkMayBlock("MmuNotifiers.register");
        Objects.requireNonNull(mm, "mm");
        mm.mmapWriteLock(); // refused in a callback, on a destroyed mm, or if this thread holds it
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
        NotifierDomain.checkMayBlock("MmuNotifiers.registerLocked");
        Objects.requireNonNull(mn, "mn");
        Objects.requireNonNull(mm, "mm");
        mm.checkAlive("MmuNotifiers.registerLocked");
        mm.assertMmapWriteLocked();
        if (mn.ops == null) {
            throw new IllegalStateException("MmuNotifiers.register: " + mn + " has no ops; construct it with "
                    + "MmuNotifier(ops), or obtain it with MmuNotifiers.get(ops, mm)");
        }
        registerHeld(mn, mm);
    }

    /** __mmu_notifier_register proper; the mmap write lock is held and mn.ops is set. */
    private static void registerHeld(MmuNotifier mn, MmStruct mm) {
        if (mm.users() <= 0) {
            throw new IllegalStateException("MmuNotifiers.register on " + mm + ", which has no users (it has "
                    + "exited); the caller must hold a user reference");
        }
        if (!mn.claimOwner(mm)) {
            throw new AlreadyRegistered(mn);
        }
        mn.mm = mm;     // B-3: before anything that can fail
        mn.users = 1;
        mn.resetReleased();
        Subscriptions s = mm.subscriptions;
        Subscriptions fresh = s == null ? new Subscriptions() : null; // B-4
        if (Thread.currentThread().isInterrupted()) { // B-5: mm_take_all_locks' -EINTR
            mn.users = 0; // a put or unregister of this never-registered notifier is refused
            mn.releaseOwner();
            throw new IllegalStateException("MmuNotifiers.register interrupted (the kernel's -EINTR): "
                    + "nothing was registered", new InterruptedException());
        }
        mm.mmgrab(); // B-6, paired with the mmdrop of unregister or of the deferred free
        if (fresh != null) {
            mm.subscriptions = fresh; // the volatile store publishes it; the mmap write lock keeps it unique
            s = fresh;
        }
        if (!s.link(mn, mm)) { // the caller did not pin mm_users, and exit won the race
            mn.users = 0;
            mn.releaseOwner();
            mm.mmdrop();
            throw new IllegalStateException("MmuNotifiers.register on " + mm + ", which exited during the "
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
     * <p><b>Context:</b> blocks; not from any callback (it takes the mmap lock, which no callback
     * may take; from an atomic callback it is also a sleep in atomic context).
     * <p><b>Pairing:</b> exactly one {@link #put} per get.
     *
     * @param <N> the driver's notifier type
     * @param ops the driver's ops; its identity is the key
     * @param mm the address space
     * @return the notifier, whose {@link MmuNotifier#mm()} stays valid until the matching put
     * @throws IllegalStateException as {@link #getLocked}, in a callback, or if this thread
     *     already holds the mmap lock of {@code mm}; nothing changes
     */
    public static <N extends MmuNotifier> N get(MmuNotifierOps<N> ops, MmStruct mm) {
        NotifierDomain.checkMayBlock("MmuNotifiers.get");
        Objects.requireNonNull(mm, "mm");
        mm.mmapWriteLock(); // refused in a callback, on a destroyed mm, or if this thread holds it
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
        NotifierDomain.checkMayBlock("MmuNotifiers.getLocked");
        Objects.requireNonNull(ops, "ops");
        Objects.requireNonNull(mm, "mm");
        mm.checkAlive("MmuNotifiers.getLocked");
        mm.assertMmapWriteLocked();
        if (mm.users() <= 0) {
            throw new IllegalStateException("MmuNotifiers.get on " + mm + ", which has no users (it has "
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
            throw new IllegalStateException("MmuNotifiers.get: " + ops.getClass().getName()
                    + ".allocNotifier returned null; nothing was registered");
        }
        if (((MmuNotifier) mn).owner != null) {
            throw new IllegalStateException("MmuNotifiers.get: " + ops.getClass().getName()
                    + ".allocNotifier returned " + mn + ", which is already registered (or its free is still "
                    + "pending); nothing was registered");
        }
        mn.ops = ops;
        mn.implemented = Dispatch.implemented(ops);
        try {
            registerHeld(mn, mm);
        } catch (AlreadyRegistered e) { // registered elsewhere meanwhile: not ours to free
            throw new IllegalStateException("MmuNotifiers.get: " + ops.getClass().getName()
                    + ".allocNotifier returned " + mn + ", which another thread registered meanwhile; "
                    + "nothing was registered", e);
        } catch (RuntimeException | Error e) { // B-13: never published, so free at once
            try {
                Dispatch.free(mn);
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
            throw new IllegalStateException("MmuNotifiers.put: " + mn + " was never registered");
        }
        Subscriptions s = mm.subscriptions; // set before mn was linked, never cleared
        if (s == null) {
            throw new IllegalStateException("MmuNotifiers.put: " + mn + " was never registered");
        }
        synchronized (s) {
            if (mn.users == 0) {
                throw new IllegalStateException("MmuNotifiers.put: " + mn + " has no reference left to drop "
                        + "(a put without its get); nothing changed");
            }
            if (--mn.users > 0) {
                return;
            }
            if (mn.linked()) { // B-20: exit may have unlinked it already
                s.unlinkHeld(mn);
            }
        }
        SRCU.callSrcu(new DeferredFree(mn, mm)); // B-16
    }

    /** Registration refused because the object is already registered (its owner claim failed). */
    private static final class AlreadyRegistered extends IllegalStateException {
        private static final long serialVersionUID = 1L;

        AlreadyRegistered(MmuNotifier mn) {
            super("MmuNotifiers.register: " + mn + " is already registered (on " + mn.owner + "), or the "
                    + "deferred free of its last put has not run yet; nothing changed");
        }
    }

    /** The queued free; named so that the domain's error log says which notifier failed. */
    private static final class DeferredFree implements Runnable {
        private final MmuNotifier mn;
        private final MmStruct mm;
        /** JFR: begun at the last put if a recording wants it, else null. */
        private final DeferredFreeEvent event;

        DeferredFree(MmuNotifier mn, MmStruct mm) {
            this.mn = mn;
            this.mm = mm;
            this.event = DeferredFreeEvent.beginIfEnabled();
        }

        @Override
        public void run() {
            DeferredFreeEvent e = event;
            if (e == null) {
                freeDeferred(mn, mm);
                return;
            }
            Class<?> opsClass = mn.ops.getClass(); // before the free: a pooled notifier may be reused
            long t0 = System.nanoTime();
            boolean failed = true;
            try {
                freeDeferred(mn, mm);
                failed = false;
            } finally {
                long t1 = System.nanoTime();
                e.end();
                if (e.shouldCommit()) {
                    e.notifierClass = mn.getClass();
                    e.opsClass = opsClass;
                    e.mm = mm.label();
                    e.freeDuration = t1 - t0;
                    e.failed = failed;
                    e.commit();
                }
            }
        }

        @Override
        public String toString() {
            return "freeNotifier(" + mn + ") of " + mn.ops.getClass().getName();
        }
    }

    /** mmu_notifier_free_rcu (B-17): runs on the SRCU callback thread after a grace period. */
    private static void freeDeferred(MmuNotifier mn, MmStruct mm) {
        try {
            Dispatch.free(mn); // in an atomic frame: an SRCU callback must not sleep
        } finally {
            mm.mmdrop();
            mn.releaseOwner(); // a pooled object may be handed out again by allocNotifier
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
        NotifierDomain.checkMayWaitForDomain("MmuNotifiers.unregister");
        Objects.requireNonNull(mn, "mn");
        Objects.requireNonNull(mm, "mm");
        if (mm.count() <= 0) { // B-22
            throw mm.destroyedError("MmuNotifiers.unregister");
        }
        if (mn.mm != mm) {
            throw new IllegalStateException("MmuNotifiers.unregister: " + mn + " is not registered on " + mm);
        }
        Subscriptions s = mm.subscriptions;
        if (s == null) {
            throw new IllegalStateException("MmuNotifiers.unregister: " + mn + " is not registered on " + mm);
        }
        synchronized (s) {
            if (mn.users == 0) {
                throw new IllegalStateException("MmuNotifiers.unregister: " + mn
                        + " is not registered, or was already unregistered or put; nothing changed");
            }
            if (mn.users > 1) { // B-9: get found this registration; those references need put
                throw new IllegalStateException("MmuNotifiers.unregister: " + mn + " also has " + (mn.users - 1)
                        + " reference(s) from get(); drop them with put() (and then use put, not unregister, "
                        + "for the registration: never mix the two); nothing changed");
            }
            mn.users = 0; // from here on findGet skips it: a racing get allocates a fresh notifier
        }
        Throwable failure = null;
        if (mn.linked()) { // B-23
            if (mn.claimRelease()) {
                failure = Dispatch.releaseOne(mn, mm);
            }
            s.unlink(mn);
        }
        SRCU.synchronize(); // B-24: waits for every running callback, including exit's release
        mm.mmdrop();
        mn.releaseOwner(); // last: the object may be registered again from here on
        if (failure != null) {
            Dispatch.rethrow(failure);
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
        NotifierDomain.checkMayWaitForDomain("MmuNotifiers.synchronize()");
        SRCU.synchronize(); // the 5.4 body: running callbacks have finished
        SRCU.barrier();     // srcu_barrier: every free queued before the call has finished
    }

    // ================================================================== interval notifiers (5.5+)

    /**
     * Subscribes a new {@link MmuIntervalNotifier} to the invalidations that overlap
     * {@code [start, start + length)} of {@code mm} (Linux {@code mmu_interval_notifier_insert},
     * 5.5+). Equivalent to {@link #insertInterval(MmuIntervalNotifier, MmStruct, long, long,
     * MmuIntervalNotifierOps)} with {@code new MmuIntervalNotifier()}.
     *
     * @return the inserted subscription
     * @throws IllegalArgumentException as the other form
     * @throws IllegalStateException as the other form
     */
    public static MmuIntervalNotifier insertInterval(MmStruct mm, long start, long length,
            MmuIntervalNotifierOps ops) {
        return insertInterval(new MmuIntervalNotifier(), mm, start, length, ops);
    }

    /**
     * Subscribes {@code sub} to the invalidations that overlap {@code [start, start + length)}
     * of {@code mm} (Linux {@code mmu_interval_notifier_insert}, 5.5+). The first insert on an
     * mm switches it to "itree mode" under the mmap write lock (Linux
     * {@code mmu_notifier_register(NULL, mm)}: no list entry, no {@code mmgrab}); later inserts
     * do not take the mmap lock. The subscription takes a reference to the mm's structure
     * ({@code mmgrab}), dropped by {@link MmuIntervalNotifier#remove()}.
     *
     * <p>If an invalidation is in progress the interval may reach the tree only when the last
     * one ends; the subscription's sequence then makes {@link MmuIntervalNotifier#readBegin()}
     * wait for that end, so a driver that follows the read protocol misses nothing.
     *
     * <p><b>Locking:</b> the caller must not hold the mmap lock of {@code mm} in any mode (use
     * {@link #insertIntervalLocked} under the write lock), and must hold a user reference of
     * {@code mm}.
     * <p><b>Context:</b> may block; not from any notifier callback (it may take the mmap lock,
     * which no callback may take).
     * <p><b>Pairing:</b> one {@link MmuIntervalNotifier#remove()}.
     * <p><b>Memory consistency effects:</b> actions before the call happen-before every callback
     * on {@code sub}.
     *
     * @param <S> the driver's subscription type
     * @param sub a subscription that is not inserted (new, or removed)
     * @param mm the address space
     * @param start first address of the interval
     * @param length length in bytes, unsigned, not 0; {@code start + length - 1} must not wrap
     * @param ops the callback
     * @return {@code sub}
     * @throws IllegalArgumentException if {@code length} is 0 or the interval wraps past the top
     *     of the address space (the kernel's {@code -EOVERFLOW}); nothing changes
     * @throws IllegalStateException if {@code sub} is inserted already, if {@code mm} has no users
     *     (the kernel's {@code -EINVAL}) or is destroyed, in a callback, or if this thread holds
     *     the mmap lock of {@code mm}; nothing changes
     */
    public static <S extends MmuIntervalNotifier> S insertInterval(S sub, MmStruct mm, long start, long length,
            MmuIntervalNotifierOps ops) {
        return insertInterval(sub, mm, start, length, ops, false);
    }

    /**
     * {@link #insertInterval(MmStruct, long, long, MmuIntervalNotifierOps)} with the mmap lock of
     * {@code mm} held for write (Linux {@code mmu_interval_notifier_insert_locked}).
     *
     * @return the inserted subscription
     * @throws IllegalStateException also if the calling thread does not hold the mmap write lock
     * @throws IllegalArgumentException as {@link #insertInterval(MmuIntervalNotifier, MmStruct,
     *     long, long, MmuIntervalNotifierOps)}
     */
    public static MmuIntervalNotifier insertIntervalLocked(MmStruct mm, long start, long length,
            MmuIntervalNotifierOps ops) {
        return insertIntervalLocked(new MmuIntervalNotifier(), mm, start, length, ops);
    }

    /**
     * {@link #insertInterval(MmuIntervalNotifier, MmStruct, long, long, MmuIntervalNotifierOps)}
     * with the mmap lock of {@code mm} held for write (Linux
     * {@code mmu_interval_notifier_insert_locked}).
     *
     * <p><b>Locking:</b> the calling thread must hold {@code mm}'s mmap lock for write (asserted).
     *
     * @param <S> the driver's subscription type
     * @return {@code sub}
     * @throws IllegalStateException also if the calling thread does not hold the mmap write lock
     * @throws IllegalArgumentException as the unlocked form
     */
    public static <S extends MmuIntervalNotifier> S insertIntervalLocked(S sub, MmStruct mm, long start, long length,
            MmuIntervalNotifierOps ops) {
        return insertInterval(sub, mm, start, length, ops, true);
    }

    private static <S extends MmuIntervalNotifier> S insertInterval(S sub, MmStruct mm, long start, long length,
            MmuIntervalNotifierOps ops, boolean locked) {
        String op = locked ? "MmuNotifiers.insertIntervalLocked" : "MmuNotifiers.insertInterval";
        NotifierDomain.checkMayBlock(op);
        ExecutionContext ctx = ExecutionContext.current();
        if (ctx.depth() != 0) {
            throw new IllegalStateException(op + " called from " + ctx.describeInnermost() + ": no notifier "
                    + "callback may insert or remove an interval subscription (insert may take the mmap lock, "
                    + "which no callback may take, and the tree is frozen while the callbacks run); nothing changed");
        }
        Objects.requireNonNull(sub, "sub");
        Objects.requireNonNull(mm, "mm");
        Objects.requireNonNull(ops, "ops");
        long last = start + length - 1;
        if (length == 0 || Long.compareUnsigned(last, start) < 0) { // I-7: -EOVERFLOW
            throw new IllegalArgumentException(op + ": the interval at 0x" + Long.toHexString(start) + " of length 0x"
                    + Long.toHexString(length) + (length == 0 ? " is empty" : " wraps past the top of the address space")
                    + " (the kernel's -EOVERFLOW); nothing changed");
        }
        if (locked) {
            mm.checkAlive(op);
            mm.assertMmapWriteLocked();
        } else {
            mm.mightLockMmap(op + "()"); // it may take the mmap lock for write: refused if this thread holds it
        }
        if (mm.users() <= 0) { // I-7: the kernel WARNs and returns -EINVAL
            throw new IllegalStateException(op + " on " + mm + ", which has no users (it has exited); "
                    + "the caller must hold a user reference; nothing changed");
        }
        if (!sub.claimInsert()) {
            throw new IllegalStateException(op + ": " + sub + " is " + MmuIntervalNotifier.stateName(sub.state())
                    + "; remove it first; nothing changed");
        }
        try {
            Itree it = itreeOf(mm, locked);
            mm.mmgrab(); // I-7 step 3, paired with the mmdrop of remove
            sub.ops = ops;
            sub.mm = mm;
            sub.itree = it;
            sub.start = start;
            sub.last = last;
            it.insert(sub); // publishes the fields: walks read them after this monitor section
        } catch (RuntimeException | Error e) {
            sub.abandonInsert();
            throw e;
        }
        sub.inserted();
        return sub;
    }

    /**
     * The mm's interval state, registering "itree mode" first if needed (Linux
     * {@code __mmu_notifier_register(NULL, mm)}, I-1): no list entry, no mmgrab.
     */
    private static Itree itreeOf(MmStruct mm, boolean locked) {
        Subscriptions s = mm.subscriptions;
        if (s != null && s != Subscriptions.POISON && s.itree != null) {
            return s.itree;
        }
        if (!locked) {
            mm.mmapWriteLock();
        }
        try {
            s = mm.subscriptions; // stable under the write lock
            if (s == null) {
                s = new Subscriptions();
                mm.subscriptions = s; // the volatile store publishes it
            }
            synchronized (s) {
                if (s.itree == null) {
                    s.itree = new Itree(); // the volatile store publishes it
                }
                return s.itree;
            }
        } finally {
            if (!locked) {
                mm.mmapWriteUnlock();
            }
        }
    }
}
