/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sim.c - the writer child of crashwal's simulated power loss (--mode
 * sim): the same writer as child.c, on the crash-simulating backend
 * (tests/io/crashsim.c) instead of a loop-mounted filesystem, so it needs
 * no root and a cut costs a few milliseconds.
 *
 * The child runs the plan with the power-loss protocol of crash.h. The
 * simulator cuts the power when its operation count reaches the plan's
 * cut_ops (during uwal_open, a write, a rotation, a retention unlink,
 * close), or, if the writers spent their budget first, once they are all
 * idle. At the cut it takes the sequence number that stands for both
 * snap and cut: the cut is instantaneous, so every durable acknowledgment,
 * whenever it was recorded, is judged. Once the writer has failed and
 * closed the log, the child lays out the files as the power loss left them
 * (crashsim_layout) under img; with the plan's rec_strike it then recovers
 * that image on a second simulator, cuts again after rec_ops operations
 * and lays the result out under img2. The parent judges the last image
 * with the system backend (verify.c).
 */
#include "crash.h"
#include "crashsim.h"
#include "faultio.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct sim_child {
	struct cw_shm *shm;
	struct crashsim *sim;
	const struct cw_plan *p;
	uint32_t truncs; /* counted for the plan's cut_trunc */
};

/* Under the simulator's lock, at the instant of the cut. */
static void on_cut(void *arg)
{
	struct cw_shm *shm = arg;
	uint64_t seq = atomic_fetch_add(&shm->seq, 1) + 1;
	atomic_store(&shm->cut_seq, seq);
	atomic_store(&shm->shut, 1);
}

static void all_idle(void *arg)
{
	struct sim_child *c = arg;
	crashsim_cut(c->sim, 0);
}

/* A truncation plan's cut the instant a truncation returned. */
static void trunc_returned(void *arg, uint64_t m, bool back)
{
	struct sim_child *c = arg;
	(void)m;
	if (c->p->cut_trunc_back && !back)
		return;
	if (++c->truncs == c->p->cut_trunc && !crashsim_is_cut(c->sim)) {
		atomic_store(&c->shm->sim_trunc_cut, 1);
		crashsim_cut(c->sim, 0);
	}
}

static void layout(struct cw_shm *shm, struct crashsim *sim, uint64_t seed, const char *to)
{
	const char *note = NULL;
	int e = crashsim_layout(sim, seed, to, &note);
	if (e < 0)
		atomic_store(&shm->sim_layout_err, e);
	size_t n = strlen(shm->sim_note);
	snprintf(shm->sim_note + n, sizeof(shm->sim_note) - n, "%s%s", n ? "; then " : "",
		 note ? note : "");
}

/* Open the laid-out log (recovery), with another cut after rec_ops. */
static void recover(struct cw_shm *shm, const struct cw_plan *p, const struct cw_sim_dirs *d)
{
	struct crashsim *sim = crashsim_new(NULL, d->img);
	if (!sim) {
		atomic_store(&shm->sim_layout_err, -12);
		return;
	}
	crashsim_set_forget(sim, d->forget);
	crashsim_arm(sim, p->rec_ops, NULL, NULL);
	tio_select(crashsim_io(sim));
	uwal_config cfg;
	uwal *w;
	char dir[4200];
	snprintf(dir, sizeof(dir), "%s/log", d->img);
	cw_config(p, dir, &cfg);
	int ret = uwal_open(&cfg, &w);
	atomic_store(&shm->rec_open_err, ret);
	if (ret == 0)
		uwal_close(w);
	crashsim_cut(sim, 0);
	tio_select(NULL);
	layout(shm, sim, cw_mix(p->seed ^ 0x7265636f76657279ull), d->img2);
	atomic_fetch_add(&shm->sim_forgotten, crashsim_forgotten(sim));
	crashsim_free(sim);
}

void cw_sim_child(struct cw_shm *shm, const struct cw_plan *p, const struct cw_sim_dirs *d)
{
	struct sim_child c = {.shm = shm, .p = p};
	char dir[4200];
	snprintf(dir, sizeof(dir), "%s/log", d->live);
	c.sim = crashsim_new(NULL, d->live);
	if (!c.sim)
		_exit(4);
	crashsim_set_forget(c.sim, d->forget);
	crashsim_arm(c.sim, p->cut_ops, on_cut, shm);
	tio_select(crashsim_io(c.sim));

	struct cw_hooks hooks = {.all_idle = all_idle, .trunc_returned = trunc_returned, .arg = &c};
	int st = cw_child_work(shm, p, dir, true, &hooks);
	/* uwal_open failed (at the cut, or before it: the parent tells). */
	crashsim_cut(c.sim, 0);
	tio_select(NULL);
	atomic_store(&shm->sim_ops, crashsim_ops(c.sim));
	layout(shm, c.sim, cw_mix(p->seed ^ 0x6c61796f7574ull), d->img);
	atomic_store(&shm->sim_forgotten, crashsim_forgotten(c.sim));
	crashsim_free(c.sim);
	if (p->rec_strike)
		recover(shm, p, d);
	_exit(st);
}
