package org.mmunotifier.mm;

/**
 * The per-mm list of linked notifiers (Linux {@code struct mmu_notifier_mm}, renamed
 * {@code mmu_notifier_subscriptions} in 5.6).
 */
final class Subscriptions {
    /*
     * Overview
     * --------
     * The kernel's RCU hlist becomes a copy-on-write array, newest first (hlist_add_head_rcu makes
     * the list LIFO). Writers (link, unlink, unlinkAll) hold this object's monitor (the kernel's
     * spinlock) and publish a new array with a volatile store; readers load the array once, under
     * an SRCU read section when they call callbacks, and walk a snapshot that never changes.
     *
     * Guards
     * ------
     *   list                        written under monitor; volatile read anywhere
     *   MmuNotifier.users           read and written under monitor
     *   MmuNotifier.linkStamp       written under monitor; volatile read anywhere
     *   itree                       written once (null -> object) under the mmap write lock and
     *                               this monitor; volatile read by every start, end and exit
     *                               (the interval state has a monitor of its own: see Itree)
     *
     * Memory ordering
     * ---------------
     * The volatile store of 'list' in link() pairs with the volatile load in the dispatchers: a
     * notifier's fields, written before link(), are visible to every callback on it. unlink()
     * stores the UNLINKED stamp before the volatile store of 'list' and before put queues the free;
     * an SRCU reader whose section the free's grace period does not wait for sees both writes
     * (Srcu's guarantee), so it neither finds the notifier in the list nor sees it as linked.
     */

    static final MmuNotifier[] EMPTY = {};

    /**
     * Stored in {@code MmStruct.subscriptions} by the mm's last mmdrop (the kernel's list
     * poisoning and KASAN in one): every event method tests for it after its null check, so a
     * destroyed mm refuses events at no cost to the live ones. Nothing is ever linked to it.
     */
    static final Subscriptions POISON = new Subscriptions();

    /**
     * Stamps every link, on every mm, with a new number (MmuNotifier.linkStamp). A start reads it
     * after loading its snapshot; its end skips notifiers whose stamp is newer, i.e. objects that
     * were unlinked and linked again (re-registered, or reused from a pool) since the start.
     */
    static final java.util.concurrent.atomic.AtomicLong LINK_GEN = new java.util.concurrent.atomic.AtomicLong();

    volatile MmuNotifier[] list = EMPTY;

    /**
     * The interval notifiers' state (Linux 5.5's {@code has_itree} and what it guards): null
     * until the first interval insert registers "itree mode". Written once (null to object)
     * under the mmap write lock and this monitor; volatile read by every start, end and exit.
     */
    volatile Itree itree;

    /**
     * hlist_add_head_rcu under the lock, newest first, unless {@code mm} has exited: the check
     * and the link are atomic with respect to the exit path's {@link #unlinkAll()}, so no notifier
     * can stay linked on an exited mm (the kernel's second {@code BUG_ON(mm_users <= 0)}).
     *
     * @return false, linking nothing, if {@code mm} has no users
     */
    synchronized boolean link(MmuNotifier mn, MmStruct mm) {
        if (mm.users() <= 0) {
            return false;
        }
        MmuNotifier[] old = list;
        MmuNotifier[] a = new MmuNotifier[old.length + 1];
        a[0] = mn;
        System.arraycopy(old, 0, a, 1, old.length);
        mn.linkStamp = LINK_GEN.incrementAndGet(); // before the volatile store of 'list'
        list = a;
        return true;
    }

    /** hlist_del_init_rcu under the lock; a no-op if not linked (exit's unlinkAll came first). */
    synchronized void unlink(MmuNotifier mn) {
        if (mn.linked()) {
            unlinkHeld(mn);
        }
    }

    /** Caller holds the monitor and mn is linked. */
    void unlinkHeld(MmuNotifier mn) {
        MmuNotifier[] old = list;
        int n = old.length;
        int i = 0;
        while (i < n && old[i] != mn) {
            i++;
        }
        mn.linkStamp = MmuNotifier.UNLINKED;
        if (i == n) {
            return;
        }
        if (n == 1) {
            list = EMPTY;
            return;
        }
        MmuNotifier[] a = new MmuNotifier[n - 1];
        System.arraycopy(old, 0, a, 0, i);
        System.arraycopy(old, i + 1, a, i, n - i - 1);
        list = a;
    }

    /** The exit path's "del_init from the head until empty". */
    synchronized void unlinkAll() {
        for (MmuNotifier mn : list) {
            mn.linkStamp = MmuNotifier.UNLINKED;
        }
        list = EMPTY;
    }

    /**
     * find_get_mmu_notifier: the first linked notifier (newest first) whose ops is {@code ops}
     * and that is not being unregistered, with one more user; null if none.
     *
     * @throws IllegalStateException if that notifier's users are at the limit; nothing changes
     */
    synchronized MmuNotifier findGet(MmuNotifierOps<?> ops) {
        for (MmuNotifier mn : list) {
            // users == 0 while linked: an unregister is tearing it down (release running). Skip
            // it, as the kernel skips unhashed entries: the get then allocates a fresh notifier.
            if (mn.ops == ops && mn.users > 0) {
                if (mn.users >= MmuNotifiers.usersLimit) {
                    throw new IllegalStateException("MmuNotifiers.get: the notifier " + mn + " already has "
                            + mn.users + " users, the limit (the kernel's -EOVERFLOW); nothing changed");
                }
                mn.users++;
                return mn;
            }
        }
        return null;
    }

    int size() {
        return list.length;
    }
}
