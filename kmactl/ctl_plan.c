#include "ctl_plan.h"

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl_nodes.h"
#include "exitcodes.h"

#define POLL_MS        500
#define LOST_LIMIT_S   120 /* how long follow waits for a coordinator that went away */
#define HEALTHY_WAIT_S 30  /* after the plan, for the diagnosis to see the whole mesh */

static const char *jstr(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return "";
	return json_object_get_string(v);
}

static int64_t jint(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v))
		return 0;
	return json_object_get_int64(v);
}

static json_object *jarr(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_array))
		return NULL;
	return v;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static void stamp(char *buf, size_t size, int64_t at)
{
	time_t t = (time_t)at;
	struct tm tm;

	if (!localtime_r(&t, &tm) || !strftime(buf, size, "%H:%M:%S", &tm))
		snprintf(buf, size, "%lld", (long long)at);
}

/* POST path (no body); *doc the answer when 200/201. */
static int post(const struct ctl_ctx *c, const char *path, json_object **doc)
{
	struct ctl_http_reply r = {0};
	int ret = ctl_transport(c, "POST", path, "{}", &r);

	*doc = NULL;
	if (ret == KMA_EXIT_OK) {
		if (r.status == 200 || r.status == 201)
			ret = ctl_parse(path, &r, doc);
		else
			ret = ctl_refused("POST", path, &r);
	}
	ctl_http_reply_free(&r);
	return ret;
}

int ctl_verb_node_token(const struct ctl_ctx *c, char **args)
{
	char path[96];
	json_object *doc = NULL;
	int ret;

	if (!ctl_node_id_ok(args[0]))
		return ctl_bad_node_id(args[0]);
	snprintf(path, sizeof(path), "/v1/nodes/%s/token", args[0]);
	ret = post(c, path, &doc);
	if (ret != KMA_EXIT_OK)
		return ret;
	if (c->opts->output == CTL_OUT_JSON) {
		ctl_print_json(doc);
	} else {
		printf("node %s: a new one-time enrolment token (the previous one is void)\n",
		       args[0]);
		if (jint(doc, "expires_at")) {
			char when[96];

			ctl_format_when(jint(doc, "expires_at"), (int64_t)time(NULL), when,
			                sizeof(when));
			printf("expires %s\n", when);
		}
		/* stdout only, never a log */
		printf("token: %s\n", jstr(doc, "token"));
	}
	json_object_put(doc);
	return KMA_EXIT_OK;
}

json_object *ctl_plan_current(const struct ctl_ctx *c)
{
	struct ctl_http_reply r = {0};
	json_object *doc = NULL;

	if (ctl_http_request(c->cfg, "GET", "/v1/plans/current", NULL, &r) != CTL_HTTP_OK ||
	    r.status != 200 || ctl_parse("/v1/plans/current", &r, &doc) != KMA_EXIT_OK)
		doc = NULL;
	ctl_http_reply_free(&r);
	return doc;
}

/*
 * The plan's state with what the coordinator says of it: "paused by alice" rather than
 * "paused: paused by alice" when the detail tells the state itself.
 */
static const char *state_text(json_object *plan)
{
	static char buf[320];
	const char *state = jstr(plan, "state"), *detail = jstr(plan, "detail");
	size_t n = strlen(state);

	if (!detail[0])
		return state;
	if (strncmp(detail, state, n) == 0 && (detail[n] == ' ' || detail[n] == '\0'))
		return detail;
	snprintf(buf, sizeof(buf), "%s: %s", state, detail);
	return buf;
}

void ctl_plan_status(const struct ctl_ctx *c, FILE *out)
{
	json_object *doc = out ? ctl_plan_current(c) : NULL, *steps, *lease;

	if (!doc)
		return;
	fprintf(out, "\nrecovery plan %lld: %s\n", (long long)jint(doc, "id"), state_text(doc));
	steps = jarr(doc, "steps");
	for (size_t i = 0; steps && i < json_object_array_length(steps); i++) {
		json_object *s = json_object_array_get_idx(steps, i);

		if (strcmp(jstr(s, "state"), "stopped") == 0) {
			fprintf(out, "  step %lld %s %s: %s\n", (long long)jint(s, "step"),
			        jstr(s, "kind"), jstr(s, "node_id"), jstr(s, "detail"));
			continue;
		}
		if (strcmp(jstr(s, "state"), "active") != 0)
			continue;
		fprintf(out, "  step %lld %s %s (%s): %s\n", (long long)jint(s, "step"),
		        jstr(s, "kind"), jstr(s, "node_id"), jstr(s, "phase"), jstr(s, "detail"));
	}
	if (json_object_object_get_ex(doc, "lease", &lease) &&
	    json_object_is_type(lease, json_type_object))
		fprintf(out, "  lease: %s held for %s (%s, fencing %lld), expires in %lld s\n",
		        jstr(lease, "node_id"), jstr(lease, "why"), jstr(lease, "id"),
		        (long long)jint(lease, "fencing"),
		        (long long)(jint(lease, "expires_at") - jint(doc, "now")));
	else if (strcmp(jstr(doc, "state"), "running") == 0 ||
	         strcmp(jstr(doc, "state"), "paused") == 0)
		fprintf(out, "  lease: free (no node is being disrupted)\n");
	json_object_put(doc);
}

void ctl_plan_signature(const struct ctl_ctx *c, char *buf, size_t size)
{
	json_object *doc = ctl_plan_current(c), *steps;
	size_t used = 0;

	if (size)
		buf[0] = '\0';
	if (!doc)
		return;
	used = (size_t)snprintf(buf, size, "plan %lld %s|", (long long)jint(doc, "id"),
	                        jstr(doc, "state"));
	steps = jarr(doc, "steps");
	for (size_t i = 0; steps && i < json_object_array_length(steps) && used < size; i++) {
		json_object *s = json_object_array_get_idx(steps, i);

		used += (size_t)snprintf(buf + used, size - used, "%s %s %s|", jstr(s, "state"),
		                         jstr(s, "phase"), jstr(s, "detail"));
	}
	json_object_put(doc);
}

/* ---- plan ---- */

static void render_proposal(json_object *doc)
{
	json_object *steps = jarr(doc, "steps"), *notes = jarr(doc, "notes");
	size_t n = steps ? json_object_array_length(steps) : 0;

	if (n == 0)
		printf("Nothing to recover: no finding calls for a step.\n");
	for (size_t i = 0; i < n; i++) {
		json_object *s = json_object_array_get_idx(steps, i), *open;

		printf("%2lld. %-13s %-16s %s\n", (long long)jint(s, "step"), jstr(s, "kind"),
		       jstr(s, "node_id"),
		       json_object_get_boolean(json_object_object_get(s, "manual")) ? "MANUAL"
		                                                                    : "automatic");
		printf("      why:  %s\n", jstr(s, "reason"));
		if (jstr(s, "instruction")[0])
			printf("      do:   %s\n", jstr(s, "instruction"));
		if (jstr(s, "justified_by")[0])
			printf("      only if: %s\n", jstr(s, "justified_by"));
		if (json_object_object_get_ex(s, "gate_open_now", &open))
			printf("      gate: %s\n", json_object_get_boolean(open)
			                               ? "open now (every other node serving and "
			                                 "mutually authenticated)"
			                               : jstr(s, "gate"));
	}
	for (size_t i = 0; notes && i < json_object_array_length(notes); i++)
		printf("%snot addressed by the plan: %s\n", i == 0 ? "\n" : "",
		       json_object_get_string(json_object_array_get_idx(notes, i)));
}

int ctl_verb_plan(const struct ctl_ctx *c, char **args)
{
	json_object *doc = NULL;
	int ret = ctl_get_json(c, "/v1/plan", &doc);

	(void)args;
	if (ret != KMA_EXIT_OK)
		return ret;
	if (c->opts->output == CTL_OUT_JSON)
		ctl_print_json(doc);
	else
		render_proposal(doc);
	json_object_put(doc);
	return KMA_EXIT_OK;
}

/* ---- following a plan ---- */

struct seen {
	char key[1024];
};

static void summary(json_object *plan)
{
	json_object *steps = jarr(plan, "steps");
	size_t n = steps ? json_object_array_length(steps) : 0;

	printf("\nplan %lld %s\n", (long long)jint(plan, "id"), state_text(plan));
	for (size_t i = 0; i < n; i++) {
		json_object *s = json_object_array_get_idx(steps, i);
		int64_t took = jint(s, "finished_at") && jint(s, "started_at")
		                   ? jint(s, "finished_at") - jint(s, "started_at")
		                   : -1;

		printf("  %2lld. %-13s %-16s %-8s", (long long)jint(s, "step"), jstr(s, "kind"),
		       jstr(s, "node_id"), jstr(s, "state"));
		if (took >= 0)
			printf(" %4llds", (long long)took);
		else
			printf("      ");
		printf("  %s\n", jstr(s, "detail"));
	}
}

/* Prints what changed since the last look; returns the plan's state. */
static const char *show_changes(json_object *plan, struct seen *seen, size_t max, bool tty,
                                bool *live)
{
	json_object *steps = jarr(plan, "steps");
	size_t n = steps ? json_object_array_length(steps) : 0;
	int64_t now = jint(plan, "now");
	char at[16];

	stamp(at, sizeof(at), now);
	for (size_t i = 0; i < n && i < max; i++) {
		json_object *s = json_object_array_get_idx(steps, i);
		char key[sizeof(seen->key)];

		snprintf(key, sizeof(key), "%s|%s|%s", jstr(s, "state"), jstr(s, "phase"),
		         jstr(s, "detail"));
		if (strcmp(key, seen[i].key) == 0) {
			if (tty && jint(s, "stable_since") &&
			    strcmp(jstr(s, "state"), "active") == 0) {
				printf("\r  %s step %lld: stable for %lld s ", at,
				       (long long)jint(s, "step"),
				       (long long)(now - jint(s, "stable_since")));
				fflush(stdout);
				*live = true;
			}
			continue;
		}
		snprintf(seen[i].key, sizeof(seen[i].key), "%s", key);
		if (strcmp(jstr(s, "state"), "pending") == 0)
			continue;
		if (*live) {
			printf("\n");
			*live = false;
		}
		printf("%s step %lld %s %s: %s%s%s%s\n", at, (long long)jint(s, "step"),
		       jstr(s, "kind"), jstr(s, "node_id"), jstr(s, "state"),
		       strcmp(jstr(s, "state"), "active") == 0 ? " (" : "",
		       strcmp(jstr(s, "state"), "active") == 0 ? jstr(s, "phase") : "",
		       strcmp(jstr(s, "state"), "active") == 0 ? ")" : "");
		if (jstr(s, "detail")[0])
			printf("         %s\n", jstr(s, "detail"));
		if (strcmp(jstr(s, "phase"), "confirm") == 0) {
			printf("         MANUAL STEP: %s\n", jstr(s, "instruction"));
			printf("         when it is done: kmactl confirm %lld\n",
			       (long long)jint(s, "step"));
		}
	}
	fflush(stdout);
	return jstr(plan, "state");
}

/* Waits for the diagnosis to call the cluster healthy; true when it does. */
static bool healthy_after(const struct ctl_ctx *c)
{
	for (int i = 0; i < HEALTHY_WAIT_S * 2; i++) {
		json_object *doc = NULL, *h;
		bool ok = false;

		if (ctl_get_json(c, "/v1/diagnosis", &doc) == KMA_EXIT_OK &&
		    json_object_object_get_ex(doc, "healthy", &h))
			ok = json_object_get_boolean(h);
		json_object_put(doc);
		if (ok)
			return true;
		sleep_ms(POLL_MS);
	}
	return false;
}

/* What an interrupted follow says before it exits 130 (written by the signal handler). */
static char interrupted_msg[192];

static void on_interrupt(int sig)
{
	ssize_t w = write(STDERR_FILENO, interrupted_msg, strlen(interrupted_msg));

	(void)w;
	_exit(128 + sig);
}

/* From now on, Ctrl-C says that the plan goes on and how to follow it again. */
static void say_on_interrupt(json_object *plan)
{
	struct sigaction sa = {.sa_handler = on_interrupt};

	snprintf(interrupted_msg, sizeof(interrupted_msg),
	         "\nkmactl: stopped following plan %lld; it goes on without us (kmactl follow "
	         "to look again, kmactl pause to hold it)\n",
	         (long long)jint(plan, "id"));
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

static int follow(const struct ctl_ctx *c)
{
	struct seen *seen = calloc(64, sizeof(*seen));
	bool tty = isatty(STDOUT_FILENO), live = false, json = c->opts->output == CTL_OUT_JSON;
	time_t lost_since = 0;
	json_object *plan = NULL;
	int ret = KMA_EXIT_SOFTWARE;

	if (!seen)
		return ret;
	for (;;) {
		struct ctl_http_reply r = {0};
		const char *state;

		json_object_put(plan);
		plan = NULL;
		/* A coordinator restarting mid-plan is waited for: the plan is in its store. */
		if (ctl_http_request(c->cfg, "GET", "/v1/plans/current", NULL, &r) != CTL_HTTP_OK ||
		    r.status >= 500) {
			ctl_http_reply_free(&r);
			if (!lost_since) {
				lost_since = time(NULL);
				fprintf(stderr, "kmactl: the coordinator does not answer; waiting "
				                "(the plan goes on without us)\n");
			}
			if (time(NULL) - lost_since > LOST_LIMIT_S) {
				fprintf(stderr,
				        "kmactl: no coordinator for %d s; giving up "
				        "(kmactl follow to look again)\n",
				        LOST_LIMIT_S);
				ret = KMACTL_EXIT_REMOTE;
				break;
			}
			sleep_ms(POLL_MS);
			continue;
		}
		lost_since = 0;
		if (r.status != 200) {
			ret = ctl_refused("GET", "/v1/plans/current", &r);
			ctl_http_reply_free(&r);
			break;
		}
		ret = ctl_parse("/v1/plans/current", &r, &plan);
		ctl_http_reply_free(&r);
		if (ret != KMA_EXIT_OK)
			break;
		if (!interrupted_msg[0])
			say_on_interrupt(plan);
		state = json ? jstr(plan, "state") : show_changes(plan, seen, 64, tty, &live);
		if (strcmp(state, "running") != 0) {
			if (live)
				printf("\n");
			if (json)
				ctl_print_json(plan);
			else
				summary(plan);
			if (strcmp(state, "done") != 0) {
				if (!json && strcmp(state, "paused") == 0)
					printf(
					    "\nThe plan is paused. When the cause is dealt with: "
					    "kmactl resume, then kmactl follow.\n");
				ret = KMA_EXIT_FAILURE;
			} else if (!healthy_after(c)) {
				fprintf(stderr, "kmactl: the plan is done but the cluster is not "
				                "healthy (kmactl diagnose)\n");
				ret = KMA_EXIT_FAILURE;
			} else {
				if (!json)
					printf("\nThe cluster is healthy.\n");
				ret = KMA_EXIT_OK;
			}
			break;
		}
		sleep_ms(POLL_MS);
	}
	json_object_put(plan);
	free(seen);
	return ret;
}

int ctl_verb_follow(const struct ctl_ctx *c, char **args)
{
	(void)args;
	return follow(c);
}

/*
 * When a plan is running or paused already: says so (and how to go on with a paused one)
 * and returns 1; run then follows it rather than proposing another. 0 when there is none;
 * an exit status (> 1) when the coordinator could not say, which run must not take for
 * "none".
 */
static int already_running(const struct ctl_ctx *c)
{
	struct ctl_http_reply r = {0};
	json_object *plan = NULL;
	const char *state;
	bool running, paused;
	int ret = ctl_transport(c, "GET", "/v1/plans/current", NULL, &r);

	if (ret != KMA_EXIT_OK)
		return ret;
	if (r.status == 404) { /* there is no plan */
		ctl_http_reply_free(&r);
		return 0;
	}
	if (r.status != 200) {
		ret = ctl_refused("GET", "/v1/plans/current", &r);
		ctl_http_reply_free(&r);
		return ret == KMA_EXIT_FAILURE ? KMACTL_EXIT_REMOTE : ret;
	}
	ret = ctl_parse("/v1/plans/current", &r, &plan);
	ctl_http_reply_free(&r);
	if (ret != KMA_EXIT_OK)
		return ret;
	state = jstr(plan, "state");
	running = strcmp(state, "running") == 0;
	paused = strcmp(state, "paused") == 0;
	if (running || paused) {
		printf("Plan %lld, started by %s, is %s.\n%s\n", (long long)jint(plan, "id"),
		       jstr(plan, "created_by"), paused ? state_text(plan) : "running",
		       c->opts->dry_run ? "Nothing else can start until it ends."
		       : paused         ? "kmactl resume goes on with it, kmactl abort ends it."
		                        : "Following it (kmactl pause or abort to stop it).");
	}
	json_object_put(plan);
	return running || paused;
}

/* Before the question: what each step will do to which node, the disruptive ones first. */
static void list_actions(json_object *steps)
{
	static const struct {
		const char *kind, *effect;
	} effects[] = {
	    {"reboot", "is rebooted: its key service stops until it is back and serving"},
	    {"factory_reset", "has its identity ERASED (key, certificate, enrolment)"},
	    {"delete_entry", "is removed from every peer's table (it is refused until it rejoins)"},
	    {"quickstart", "enrols again with a new key (a one-time token)"},
	    {"add_entry", "is added back to every peer's table with its new serial"},
	};
	size_t n = steps ? json_object_array_length(steps) : 0;

	printf("\nThis recovery, one step at a time, each only when its gate is open:\n");
	for (size_t i = 0; i < n; i++) {
		json_object *s = json_object_array_get_idx(steps, i);
		const char *effect = "";

		for (size_t k = 0; k < sizeof(effects) / sizeof(effects[0]); k++)
			if (strcmp(jstr(s, "kind"), effects[k].kind) == 0)
				effect = effects[k].effect;
		printf("  %2lld. %-16s %s%s\n", (long long)jint(s, "step"), jstr(s, "node_id"),
		       effect[0] ? effect : jstr(s, "kind"),
		       json_object_get_boolean(json_object_object_get(s, "manual")) ? " (by hand)"
		                                                                    : "");
	}
}

int ctl_verb_run(const struct ctl_ctx *c, char **args)
{
	json_object *doc = NULL;
	int ret = ctl_get_json(c, "/v1/plan", &doc);
	json_object *steps;

	(void)args;
	if (ret != KMA_EXIT_OK)
		return ret;
	ret = already_running(c);
	if (ret != 0) {
		json_object_put(doc);
		if (ret != 1)
			return ret;
		return c->opts->dry_run ? KMA_EXIT_OK : follow(c);
	}
	steps = jarr(doc, "steps");
	if (c->opts->output != CTL_OUT_JSON || c->opts->dry_run)
		render_proposal(doc);
	if (!steps || json_object_array_length(steps) == 0) {
		json_object_put(doc);
		return KMA_EXIT_OK;
	}
	if (c->opts->dry_run) {
		json_object_put(doc);
		printf("\ndry run: nothing was started\n");
		return KMA_EXIT_OK;
	}
	if (!c->opts->yes) {
		if (!isatty(STDIN_FILENO)) {
			json_object_put(doc);
			fprintf(stderr, "kmactl: refusing to start a recovery without --yes (no "
			                "terminal to ask)\n");
			return KMA_EXIT_USAGE;
		}
		list_actions(steps);
		json_object_put(doc);
		if (!ctl_ask("\nStart this recovery? Disruptive steps run one node at a time.")) {
			fprintf(stderr, "kmactl: not started\n");
			return KMA_EXIT_FAILURE;
		}
	} else {
		json_object_put(doc);
	}
	ret = post(c, "/v1/plans", &doc);
	if (ret != KMA_EXIT_OK)
		return ret;
	if (c->opts->output != CTL_OUT_JSON)
		printf("\nplan %lld started by %s\n", (long long)jint(doc, "id"),
		       jstr(doc, "created_by"));
	json_object_put(doc);
	return follow(c);
}

/* POST /v1/plans/current/<what>: one line saying what the plan is now. */
static int action(const struct ctl_ctx *c, const char *what)
{
	char path[96];
	json_object *doc = NULL;
	int ret;

	snprintf(path, sizeof(path), "/v1/plans/current/%s", what);
	ret = post(c, path, &doc);
	if (ret != KMA_EXIT_OK)
		return ret;
	if (c->opts->output == CTL_OUT_JSON)
		ctl_print_json(doc);
	else
		printf("plan %lld: %s%s%s\n", (long long)jint(doc, "id"), jstr(doc, "state"),
		       jstr(doc, "detail")[0] ? " - " : "", jstr(doc, "detail"));
	json_object_put(doc);
	return KMA_EXIT_OK;
}

int ctl_verb_confirm(const struct ctl_ctx *c, char **args)
{
	char what[48], *end;
	long step = strtol(args[0], &end, 10);

	if (*end || step < 1 || step > 10000) {
		fprintf(stderr, "kmactl: '%s' is not a step number\n", args[0]);
		return KMA_EXIT_USAGE;
	}
	snprintf(what, sizeof(what), "steps/%ld/confirm", step);
	return action(c, what);
}

int ctl_verb_pause(const struct ctl_ctx *c, char **args)
{
	(void)args;
	return action(c, "pause");
}

int ctl_verb_resume(const struct ctl_ctx *c, char **args)
{
	(void)args;
	return action(c, "resume");
}

int ctl_verb_abort(const struct ctl_ctx *c, char **args)
{
	(void)args;
	if (!c->opts->yes) {
		if (!isatty(STDIN_FILENO)) {
			fprintf(stderr, "kmactl: refusing to abort without --yes (no terminal to "
			                "ask)\n");
			return KMA_EXIT_USAGE;
		}
		if (!ctl_ask(
		        "Abort the recovery plan? Steps done stay done; the rest never runs.")) {
			fprintf(stderr, "kmactl: not aborted\n");
			return KMA_EXIT_FAILURE;
		}
	}
	return action(c, "abort");
}

int ctl_verb_history(const struct ctl_ctx *c, char **args)
{
	json_object *doc = NULL, *arr;
	int ret = ctl_get_json(c, "/v1/journal", &doc);

	(void)args;
	if (ret != KMA_EXIT_OK)
		return ret;
	arr = jarr(doc, "entries");
	if (c->opts->output == CTL_OUT_JSON) {
		ctl_print_json(doc);
	} else if (!arr || json_object_array_length(arr) == 0) {
		printf("the journal is empty\n");
	} else {
		for (size_t i = 0; i < json_object_array_length(arr); i++) {
			json_object *e = json_object_array_get_idx(arr, i);
			char at[40], step[24] = "";

			ctl_format_date(jint(e, "at"), at, sizeof(at));
			/* step 0: the plan's own events (started, paused, done) */
			if (jint(e, "step"))
				snprintf(step, sizeof(step), "step %lld",
				         (long long)jint(e, "step"));
			printf("%s  plan %lld %-8s %-12s %-10s %s\n", at,
			       (long long)jint(e, "plan_id"), step, jstr(e, "actor"),
			       jstr(e, "event"), jstr(e, "detail"));
		}
	}
	json_object_put(doc);
	return KMA_EXIT_OK;
}
