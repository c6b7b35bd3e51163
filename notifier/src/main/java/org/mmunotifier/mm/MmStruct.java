package org.mmunotifier.mm;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import org.mmunotifier.srcu.ExecutionContext;

/**
 * An address space (Linux {@code struct mm_struct}), reduced to what MMU notifiers need: the two
 * reference counts, the mmap lock, the notifier subscriptions, and the exit path.
 *
 * <ul>
 *   <li>{@code users} ({@code mm_users}) counts users of the address space itself. The last
 *       {@link #mmput()} runs the exit path (see there).</li>
 *   <li>{@code count} ({@code mm_count}) keeps the structure alive: the users hold one
 *       reference together, each registered notifier holds one. The last {@link #mmdrop()}
 *       destroys the mm; from then on every operation on it throws
 *       {@link IllegalStateException} (the kernel's list poisoning and KASAN in one).</li>
 * </ul>
 * A new mm has users = 1 and count = 1.
 *
 * <p>The owner of the mm (the simulated kernel) installs a {@link Teardown} at construction: the
 * body of {@code exit_mmap} that unmaps what is left, run by the last {@code mmput} on a live mm.
 */
public final class MmStruct {
    /*
     * Guards
     * ------
     *   users, count     atomic; transitions out of 0 are refused (a dead mm stays dead)
     *   subscriptions    null until the first registration, which sets it under the mmap write
     *                    lock; the last mmdrop then sets it to Subscriptions.POISON, forever.
     *                    Volatile read anywhere: hasNotifiers() is that one load and a null check,
     *                    and the event methods test for POISON only after the null check.
     *   name, teardown   final
     */

    /**
     * The rest of the exit path (Linux 5.4 {@code exit_mmap} after {@code mmu_notifier_release}):
     * unmap every remaining area, raising its invalidations ({@code UNMAP}), free the page
     * tables. Installed by the owner of the mm at construction.
     */
    @FunctionalInterface
    public interface Teardown {
        /**
         * Tears the address space down. Runs once, on the thread of the last {@link #mmput()},
         * after every notifier's {@code release} has returned and every notifier has been unlinked
         * and a grace period has passed, and before the users' {@code count} reference is dropped:
         * the mm is alive ({@link #isDestroyed()} is false), has no users (so nothing can register
         * on it), and its events, mmap lock and {@code mmgrab} work as usual.
         *
         * <p><b>Context:</b> may block. An exception is passed to the caller of {@code mmput}
         * after the exit path has completed.
         *
         * @param mm the exiting address space
         */
        void exitMmap(MmStruct mm);
    }

    private final AtomicInteger users = new AtomicInteger(1);
    private final AtomicInteger count = new AtomicInteger(1);
    private final ReentrantReadWriteLock mmapLock = new ReentrantReadWriteLock();
    private final String name;
    private final Teardown teardown;

    /** mm->mmu_notifier_mm: null until the first registration; POISON once destroyed. */
    volatile Subscriptions subscriptions;

    /** An anonymous address space with users = 1 and count = 1, no notifiers and no teardown. */
    public MmStruct() {
        this(null, null);
    }

    /**
     * An address space with users = 1 and count = 1 and no notifiers.
     *
     * @param name how messages and {@link #toString()} name it (e.g. {@code "pid 42"}); null for
     *     an identity-based name
     * @param teardown the rest of the exit path, run by the last {@link #mmput()}; null for none
     */
    public MmStruct(String name, Teardown teardown) {
        this.name = name;
        this.teardown = teardown;
    }

    // ------------------------------------------------------------------ mm_users

    /**
     * Takes a user reference (Linux {@code mmget}); the caller must already hold one.
     *
     * <p><b>Pairing:</b> one {@link #mmput()}. <b>Context:</b> never blocks.
     * @throws IllegalStateException if the mm has no users (it has exited) or is destroyed;
     *     nothing changes
     */
    public void mmget() {
        if (!mmgetNotZero()) {
            throw new IllegalStateException("mmget on " + this + ", which has no users left (it has exited); "
                    + "use mmgetNotZero() when the mm may be dying");
        }
    }

    /**
     * Takes a user reference unless the mm has exited (Linux {@code mmget_not_zero}); turns a
     * notifier's {@code mm()} (which keeps only {@code count}) into an active mm.
     *
     * <p><b>Context:</b> never blocks.
     * @return true if a reference was taken (pair it with {@link #mmput()})
     * @throws IllegalStateException if the mm is destroyed (the caller held no reference that
     *     kept the structure alive)
     */
    public boolean mmgetNotZero() {
        checkAlive("mmgetNotZero");
        int u;
        do {
            u = users.get();
            if (u <= 0) {
                return false;
            }
            if (u == Integer.MAX_VALUE) {
                throw new IllegalStateException("mmget on " + this + ": users would overflow");
            }
        } while (!users.compareAndSet(u, u + 1));
        return true;
    }

    /**
     * Drops a user reference (Linux {@code mmput}). The last one runs the exit path of Linux 5.4
     * ({@code __mmput} → {@code exit_mmap}), with the interval step of 5.5, in this order, on
     * the calling thread:
     * <ol>
     *   <li>if interval subscriptions were ever inserted: one blockable {@code RELEASE}
     *       invalidation of the whole address space through the interval tree (every
     *       subscription is called; Linux 5.5 {@code mn_itree_release}); interval subscriptions
     *       must still be removed;</li>
     *   <li>every linked notifier's {@code release}, newest first, inside one SRCU read section;
     *       each notifier is still linked while its {@code release} runs (events that reach the
     *       mm meanwhile still call it);</li>
     *   <li>every notifier is unlinked, then an SRCU grace period is awaited (so that a
     *       {@code release} run by a racing {@link MmuNotifiers#unregister} has finished);</li>
     *   <li>the {@link Teardown} installed at construction runs, on the live mm (its
     *       invalidations reach no list notifier any more: they are unlinked);</li>
     *   <li>the users' {@code count} reference is dropped ({@code __mmput}'s {@code mmdrop}),
     *       which destroys the mm unless a notifier or an {@code mmgrab} still holds it.</li>
     * </ol>
     * Notifiers obtained with {@code get} must still be {@code put}; registered ones must still
     * be unregistered.
     *
     * <p><b>Context:</b> the last mmput blocks: it must not be called from a callback or from an
     * atomic context (it throws there, before changing anything). Other mmputs never block.
     * <p><b>Memory consistency effects:</b> actions of every {@code release} happen-before the
     * teardown, and the teardown's actions happen-before the return of the last mmput.
     * @throws IllegalStateException if there is no user left to drop, if the mm is destroyed, or
     *     if the last mmput is called where it may not block; nothing changes
     * @throws RuntimeException the first exception thrown by a {@code release} or the teardown
     *     (the others suppressed), after the exit path has completed
     */
    public void mmput() {
        checkAlive("mmput");
        int u;
        do {
            u = users.get();
            if (u <= 0) {
                throw new IllegalStateException("mmput on " + this + ": no user reference left to drop "
                        + "(unbalanced mmput)");
            }
            if (u == 1) {
                NotifierDomain.checkMayWaitForDomain("the last mmput (exit) of " + this);
            }
        } while (!users.compareAndSet(u, u - 1));
        if (u == 1) {
            exit();
        }
    }

    /** __mmput: exit_mmap (release, teardown), then the users' mmdrop. */
    private void exit() {
        Throwable failure = null;
        try {
            // Linux 5.5: first the interval notifiers' whole-address-space RELEASE invalidation
            // (mn_itree_release), then the list's release.
            failure = Dispatch.itreeRelease(this); // step 0
            failure = Dispatch.addFailure(failure, Dispatch.releaseAll(this)); // steps 1 and 2
            if (teardown != null) {
                try {
                    teardown.exitMmap(this);      // step 3
                } catch (Throwable t) {
                    failure = Dispatch.addFailure(failure, t);
                }
            }
        } finally {
            try {
                mmdrop();                         // step 4
            } catch (RuntimeException | Error e) {
                if (failure != null) {
                    e.addSuppressed(failure);
                }
                throw e;
            }
        }
        if (failure != null) {
            Dispatch.rethrow(failure);
        }
    }

    /** @return the users count now ({@code mm_users}); a racy snapshot for diagnostics and tests */
    public int users() {
        return users.get();
    }

    // ------------------------------------------------------------------ mm_count

    /**
     * Takes a reference to the structure (Linux {@code mmgrab}); the caller must already hold a
     * reference of either kind. <b>Pairing:</b> one {@link #mmdrop()}. <b>Context:</b> never blocks.
     * @throws IllegalStateException if the count is 0 (the mm is destroyed); nothing changes
     */
    public void mmgrab() {
        int c;
        do {
            c = count.get();
            if (c <= 0) {
                throw destroyedError("mmgrab");
            }
        } while (!count.compareAndSet(c, c + 1));
    }

    /**
     * Drops a structure reference (Linux {@code mmdrop}); the last one destroys the mm: from then
     * on every operation on it throws. <b>Context:</b> never blocks.
     * @throws IllegalStateException if the count is already 0 (the mm is destroyed); nothing
     *     changes
     */
    public void mmdrop() {
        int c;
        do {
            c = count.get();
            if (c <= 0) {
                throw destroyedError("mmdrop (unbalanced: the count is already 0)");
            }
        } while (!count.compareAndSet(c, c - 1));
        if (c == 1) {
            destroy();
        }
    }

    /** @return the count now ({@code mm_count}); a racy snapshot for diagnostics and tests */
    public int count() {
        return count.get();
    }

    /** __mmdrop -> __mmu_notifier_mm_destroy, then poison. */
    private void destroy() {
        Subscriptions s = subscriptions;
        subscriptions = Subscriptions.POISON;
        if (s != null && s.size() != 0) {
            // The kernel BUG_ONs: every linked notifier holds a count reference, so this is a bug.
            throw new IllegalStateException("mm " + this + " destroyed with " + s.size()
                    + " notifier(s) still linked");
        }
    }

    /** @return whether the last {@link #mmdrop()} has run */
    public boolean isDestroyed() {
        return subscriptions == Subscriptions.POISON;
    }

    /** Refuses {@code op} on a destroyed mm. */
    void checkAlive(String op) {
        if (subscriptions == Subscriptions.POISON) {
            throw destroyedError(op);
        }
    }

    IllegalStateException destroyedError(String op) {
        return new IllegalStateException(op + " on " + this + ", which is destroyed (its last mmdrop has run; "
                + "in the kernel this is a use after free); nothing changed");
    }

    // ------------------------------------------------------------------ mmap lock

    /*
     * The mmap lock is the kernel's rwsem (mmap_sem in 5.4) as seen by a checker: a
     * ReentrantReadWriteLock underneath, with its reentrancy refused, since an rwsem is not
     * recursive. Each thread holds it at most once, in one mode. The checks (checkMmapLock), in
     * order, each throwing IllegalStateException before anything changes:
     *   1. the mm is destroyed (a use after free);
     *   2. the thread runs an MMU-notifier callback (any frame of ExecutionContext): registration
     *      teaches lockdep that invalidations start under memory reclaim (fs_reclaim ->
     *      __mmu_notifier_invalidate_range_start_map), and the mmap lock is held across
     *      allocations (mmap lock -> fs_reclaim), so a callback that takes an mmap lock, of any
     *      mm, closes a cycle that lockdep reports. In an atomic callback it is also a sleep in
     *      atomic context;
     *   3. the thread holds it already: write after write and read after write deadlock on the
     *      thread itself, write after read too (an rwsem has no upgrade), and read after read is
     *      the recursive read that lockdep reports (it deadlocks once a writer queues between).
     */

    /**
     * Takes the mmap lock for write (Linux {@code mmap_write_lock}, {@code down_write(mmap_sem)}).
     *
     * <p><b>Context:</b> blocks. Refused in every MMU-notifier callback, and when this thread
     * already holds the lock in either mode (an rwsem is not recursive).
     * @throws IllegalStateException if the mm is destroyed, in a callback, or if this thread
     *     already holds the lock; nothing changes
     */
    public void mmapWriteLock() {
        checkMmapLock("mmapWriteLock()", true);
        mmapLock.writeLock().lock();
    }

    /**
     * Releases the mmap write lock (Linux {@code mmap_write_unlock}).
     * @throws IllegalStateException if this thread does not hold it for write; nothing changes
     */
    public void mmapWriteUnlock() {
        if (!mmapLock.isWriteLockedByCurrentThread()) {
            throw new IllegalStateException("mmapWriteUnlock() on " + this + ": thread '"
                    + Thread.currentThread().getName() + "' does not hold the mmap lock for write");
        }
        mmapLock.writeLock().unlock();
    }

    /**
     * Turns this thread's write hold into a read hold without letting a writer in between (Linux
     * {@code mmap_write_downgrade}, {@code downgrade_write}; 5.4's munmap uses it).
     * <b>Context:</b> never blocks.
     * @throws IllegalStateException if this thread does not hold the lock for write; nothing
     *     changes
     */
    public void mmapWriteDowngrade() {
        if (!mmapLock.isWriteLockedByCurrentThread()) {
            throw new IllegalStateException("mmapWriteDowngrade() on " + this + ": thread '"
                    + Thread.currentThread().getName() + "' does not hold the mmap lock for write");
        }
        mmapLock.readLock().lock(); // granted at once: this thread is the writer
        mmapLock.writeLock().unlock();
    }

    /**
     * Takes the mmap lock for read (Linux {@code mmap_read_lock}).
     *
     * <p><b>Context:</b> blocks. Refused in every MMU-notifier callback, and when this thread
     * already holds the lock in either mode.
     * @throws IllegalStateException if the mm is destroyed, in a callback, or if this thread
     *     already holds the lock; nothing changes
     */
    public void mmapReadLock() {
        checkMmapLock("mmapReadLock()", false);
        mmapLock.readLock().lock();
    }

    /**
     * Takes the mmap lock for read if no writer holds it (Linux {@code mmap_read_trylock}, as the
     * OOM reaper does). <b>Context:</b> never blocks, so it is allowed where {@link #mmapReadLock()}
     * is not: in atomic context and in callbacks (lockdep does not record a trylock as a lock
     * dependency).
     *
     * @return true if the lock was taken (pair with {@link #mmapReadUnlock()})
     * @throws IllegalStateException if the mm is destroyed, or if this thread already holds the
     *     lock; nothing changes
     */
    public boolean mmapReadTrylock() {
        checkAlive("mmapReadTrylock()");
        checkNotHeld("mmapReadTrylock()", false);
        return mmapLock.readLock().tryLock();
    }

    /**
     * Releases the mmap read lock (Linux {@code mmap_read_unlock}).
     * @throws IllegalStateException if this thread does not hold it for read; nothing changes
     */
    public void mmapReadUnlock() {
        if (mmapLock.getReadHoldCount() == 0) {
            throw new IllegalStateException("mmapReadUnlock() on " + this + ": thread '"
                    + Thread.currentThread().getName() + "' does not hold the mmap lock for read");
        }
        mmapLock.readLock().unlock();
    }

    private void checkMmapLock(String call, boolean write) {
        checkAlive(call);
        ExecutionContext ctx = ExecutionContext.current();
        if (ctx.depth() != 0) {
            throw new IllegalStateException(call + " on " + this + " called from " + ctx.describeInnermost()
                    + ": no MMU-notifier callback may take an mmap lock, of any mm. Registration tells lockdep "
                    + "that invalidations may start under memory reclaim, and the mmap lock is held across "
                    + "allocations, so this closes a lock cycle (mmap lock -> fs_reclaim -> invalidate_range_start "
                    + "-> mmap lock) that lockdep reports; nothing changed");
        }
        checkNotHeld(call, write);
    }

    /**
     * The kernel's {@code might_lock(mmap_lock)}: refuses {@code call} where taking the mmap lock
     * for write would be refused (a destroyed mm, a callback, a thread that holds it), even when
     * this call does not end up taking it.
     */
    void mightLockMmap(String call) {
        checkMmapLock(call, true);
    }

    private void checkNotHeld(String call, boolean write) {
        String held = mmapLock.isWriteLockedByCurrentThread() ? "write"
                : mmapLock.getReadHoldCount() != 0 ? "read" : null;
        if (held == null) {
            return;
        }
        String why = !write && held.equals("read")
                ? "a recursive read, which lockdep reports (it deadlocks as soon as a writer queues between the two)"
                : "it would self-deadlock (the mmap lock is an rwsem: not recursive, no upgrade)";
        throw new IllegalStateException(call + " on " + this + ": thread '" + Thread.currentThread().getName()
                + "' already holds the mmap lock for " + held + "; " + why + "; nothing changed");
    }

    /** @return whether the calling thread holds the mmap lock for write */
    public boolean mmapWriteLockedByCurrentThread() {
        return mmapLock.isWriteLockedByCurrentThread();
    }

    /**
     * Linux {@code mmap_assert_write_locked} (lockdep_assert_held_write).
     * @throws IllegalStateException if the calling thread does not hold the mmap lock for write
     */
    public void assertMmapWriteLocked() {
        if (!mmapLock.isWriteLockedByCurrentThread()) {
            throw new IllegalStateException("the calling thread '" + Thread.currentThread().getName()
                    + "' must hold the mmap lock of " + this + " for write (mmapWriteLock())");
        }
    }

    /**
     * Linux {@code mmap_assert_locked}.
     * @throws IllegalStateException if the calling thread holds the mmap lock neither for read
     *     nor for write
     */
    public void assertMmapLocked() {
        if (!mmapLock.isWriteLockedByCurrentThread() && mmapLock.getReadHoldCount() == 0) {
            throw new IllegalStateException("the calling thread '" + Thread.currentThread().getName()
                    + "' must hold the mmap lock of " + this);
        }
    }

    // ------------------------------------------------------------------ notifiers

    /**
     * Whether a notifier was ever registered on this mm (Linux {@code mm_has_notifiers}): one
     * volatile load and a null check. Every event method of {@link PrimaryMmu} starts with it.
     *
     * @return true if the mm has (or had) notifiers
     */
    public boolean hasNotifiers() {
        Subscriptions s = subscriptions;
        if (s == Subscriptions.POISON) {
            throw destroyedError("hasNotifiers");
        }
        return s != null;
    }

    @Override
    public String toString() {
        return label() + "[users=" + users.get() + ", count=" + count.get() + "]";
    }

    /** The name part of {@link #toString()}, without the counts (for JFR events). */
    String label() {
        return "MmStruct" + (name != null ? " " + name : "@" + Integer.toHexString(System.identityHashCode(this)));
    }
}
