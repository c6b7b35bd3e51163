package org.mmunotifier.mm;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * An address space (Linux {@code struct mm_struct}), reduced to what MMU notifiers need: the two
 * reference counts, the mmap lock, and the notifier subscriptions.
 *
 * <ul>
 *   <li>{@code users} ({@code mm_users}) counts users of the address space itself. The last
 *       {@link #mmput()} runs the exit path: every linked notifier's
 *       {@link MmuNotifierOps#release} (Linux {@code exit_mmap} → {@code mmu_notifier_release}),
 *       then drops the users' collective {@code count} reference.</li>
 *   <li>{@code count} ({@code mm_count}) keeps the structure alive: the users hold one
 *       reference together, each registered notifier holds one.</li>
 * </ul>
 * A new mm has users = 1 and count = 1.
 */
public final class MmStruct {
    /*
     * Guards
     * ------
     *   users, count     atomic; transitions out of 0 are refused (a dead mm stays dead)
     *   subscriptions    written once, from null, under the mmap write lock (registration);
     *                    volatile read anywhere. hasNotifiers() is that one load and a null check.
     *   destroyed        written by the last mmdrop; volatile read
     */

    private final AtomicInteger users = new AtomicInteger(1);
    private final AtomicInteger count = new AtomicInteger(1);
    private final ReentrantReadWriteLock mmapLock = new ReentrantReadWriteLock();

    /** mm->mmu_notifier_mm: null until the first registration. */
    volatile Subscriptions subscriptions;
    private volatile boolean destroyed;

    /** An address space with users = 1 and count = 1 and no notifiers. */
    public MmStruct() {
    }

    // ------------------------------------------------------------------ mm_users

    /**
     * Takes a user reference (Linux {@code mmget}); the caller must already hold one.
     *
     * <p><b>Pairing:</b> one {@link #mmput()}. <b>Context:</b> never blocks.
     * @throws IllegalStateException if the mm has no users (it has exited); nothing changes
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
     */
    public boolean mmgetNotZero() {
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
     * Drops a user reference (Linux {@code mmput}). The last one runs the exit path: every linked
     * notifier's {@code release} inside one SRCU read section, then every notifier is unlinked,
     * then an SRCU grace period is awaited (so that a {@code release} run by a racing
     * {@link MmuNotifier#unregister} has finished), then the users' {@code count} reference is
     * dropped. Notifiers obtained with {@code get} must still be {@code put}; registered ones must
     * still be unregistered.
     *
     * <p><b>Context:</b> the last mmput blocks: it must not be called from a callback or from a
     * non-blockable context (it throws there, before changing anything). Other mmputs never block.
     * <p><b>Memory consistency effects:</b> actions of every {@code release} happen-before the
     * return of the last mmput.
     * @throws IllegalStateException if there is no user left to drop, or if the last mmput is
     *     called where it may not block; nothing changes
     * @throws RuntimeException the first exception thrown by a {@code release} (the others
     *     suppressed), after the exit path has completed
     */
    public void mmput() {
        int u;
        do {
            u = users.get();
            if (u <= 0) {
                throw new IllegalStateException("mmput on " + this + ": no user reference left to drop "
                        + "(unbalanced mmput)");
            }
            if (u == 1) {
                NotifierDomain.checkMayWaitForDomain("the last mmput (exit)");
            }
        } while (!users.compareAndSet(u, u - 1));
        if (u == 1) {
            try {
                MmuNotifier.releaseAll(this); // exit_mmap -> mmu_notifier_release
            } finally {
                mmdrop();
            }
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
                throw new IllegalStateException("mmgrab on " + this + ", which is destroyed (count 0)");
            }
        } while (!count.compareAndSet(c, c + 1));
    }

    /**
     * Drops a structure reference (Linux {@code mmdrop}); the last one destroys the mm and its
     * notifier subscriptions. <b>Context:</b> never blocks.
     * @throws IllegalStateException if the count is already 0; nothing changes
     */
    public void mmdrop() {
        int c;
        do {
            c = count.get();
            if (c <= 0) {
                throw new IllegalStateException("mmdrop on " + this + ": count is already 0 (unbalanced mmdrop)");
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

    /** __mmdrop -> __mmu_notifier_mm_destroy. */
    private void destroy() {
        Subscriptions s = subscriptions;
        destroyed = true;
        if (s != null && s.size() != 0) {
            // The kernel BUG_ONs: every linked notifier holds a count reference, so this is a bug.
            throw new IllegalStateException("mm " + this + " destroyed with " + s.size()
                    + " notifier(s) still linked");
        }
    }

    /** @return whether the last {@link #mmdrop()} has run */
    public boolean isDestroyed() {
        return destroyed;
    }

    // ------------------------------------------------------------------ mmap lock

    /**
     * Takes the mmap lock for write (Linux {@code mmap_write_lock}, {@code down_write(mmap_sem)}).
     * Reentrant. <b>Context:</b> blocks; refused in a non-blockable callback.
     * @throws IllegalStateException in a non-blockable callback
     */
    public void mmapWriteLock() {
        NotifierDomain.checkMayBlock("mmapWriteLock()");
        mmapLock.writeLock().lock();
    }

    /**
     * Releases the mmap write lock (Linux {@code mmap_write_unlock}).
     * @throws IllegalMonitorStateException if this thread does not hold it
     */
    public void mmapWriteUnlock() {
        mmapLock.writeLock().unlock();
    }

    /**
     * Takes the mmap lock for read (Linux {@code mmap_read_lock}). <b>Context:</b> blocks; refused
     * in a non-blockable callback. A thread holding it for read must not ask for write.
     * @throws IllegalStateException in a non-blockable callback
     */
    public void mmapReadLock() {
        NotifierDomain.checkMayBlock("mmapReadLock()");
        mmapLock.readLock().lock();
    }

    /**
     * Releases the mmap read lock (Linux {@code mmap_read_unlock}).
     * @throws IllegalMonitorStateException if this thread does not hold it
     */
    public void mmapReadUnlock() {
        mmapLock.readLock().unlock();
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
     * volatile load and a null check. Every event method of {@link MmuNotifier} starts with it.
     *
     * @return true if the mm has (or had) notifiers
     */
    public boolean hasNotifiers() {
        return subscriptions != null;
    }

    @Override
    public String toString() {
        return "MmStruct@" + Integer.toHexString(System.identityHashCode(this)) + "[users=" + users.get()
                + ", count=" + count.get() + "]";
    }
}
