#include "ctl_cmd.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "ctl_diag.h"
#include "ctl_http.h"
#include "ctl_mesh.h"
#include "ctl_nodes.h"
#include "ctl_plan.h"
#include "exitcodes.h"
#include "nodeid.h"
#include "suggest.h"

#define NODE_ID_MAX KMA_NODE_ID_MAX

struct ctl_verb {
	const char *words; /* "node add" */
	const char *usage; /* operands and flags after the words */
	const char *summary;
	const char *example; /* one or more command lines, '\n' between them */
	int nargs;           /* operands after the words */
	unsigned flags;      /* enum ctl_flag bits it takes */
	int (*run)(const struct ctl_ctx *c, char **args);
};

static int verb_status(const struct ctl_ctx *c, char **args);
static int verb_node_list(const struct ctl_ctx *c, char **args);
static int verb_node_add(const struct ctl_ctx *c, char **args);
static int verb_node_remove(const struct ctl_ctx *c, char **args);
static int verb_node_set_serial(const struct ctl_ctx *c, char **args);
static int verb_mesh(const struct ctl_ctx *c, char **args);
static int verb_diagnose(const struct ctl_ctx *c, char **args);

static const struct ctl_verb verbs[] = {
    {"status", "[--stale SECONDS] [--watch]",
     "nodes, identity state, key service, last report, the plan and its lease; exit 0 only "
     "if all are enrolled, healthy and reported within --stale (90 s); --watch: again every "
     "2 s until interrupted (at a terminal redrawn, elsewhere printed only when it changes)",
     "kmactl status\nkmactl status --stale 30 --json\nkmactl status --watch", 0,
     CTL_FLAG_STALE | CTL_FLAG_WATCH, verb_status},
    {"node list", "", "the nodes of the cluster", "kmactl node list --json", 0, 0, verb_node_list},
    {"node add", "ID --name NAME --address HOST:PORT [--serial HEX]",
     "add a node; prints its one-time enrolment token as 'token: ...' when one is issued",
     "kmactl node add a-kma04 --name \"KMA 4, rack B\" --address 127.0.0.4:4433", 1,
     CTL_FLAG_NAME | CTL_FLAG_ADDRESS | CTL_FLAG_SERIAL, verb_node_add},
    {"node remove", "ID [--yes]",
     "remove a node; asks [y/N] at a terminal, elsewhere refuses without --yes",
     "kmactl node remove a-kma04 --yes", 1, CTL_FLAG_YES, verb_node_remove},
    {"node set-serial", "ID HEX", "record HEX as the node's enrolled certificate serial",
     "kmactl node set-serial a-kma02 5F3A9C01", 2, 0, verb_node_set_serial},
    {"mesh", "",
     "pair matrix of causes (row: observer, column: peer); exit 0 only if every cell is ok",
     "kmactl mesh\nkmactl mesh --json", 0, 0, verb_mesh},
    {"diagnose", "", "findings with evidence and remedy; exit 0 only when healthy",
     "kmactl diagnose\nkmactl diagnose --json | jq '.findings[].pattern'", 0, 0, verb_diagnose},
    {"node token", "ID",
     "a new one-time enrolment token for the node (the previous one is void), as 'token: ...'",
     "kmactl node token a-kma02\nkma-agent quickstart --node-id a-kma02 --token-file token.txt   "
     "(on the node)",
     1, 0, ctl_verb_node_token},
    {"plan", "", "the recovery the diagnosis calls for: each step, its reason and its gate now",
     "kmactl plan\nkmactl plan --json", 0, 0, ctl_verb_plan},
    {"run", "[--yes] [--dry-run]",
     "start the plan (asks [y/N]; --yes for scripts) and follow it; exit 0 only when it is "
     "done and the cluster is healthy; --dry-run shows it and starts nothing",
     "kmactl run --dry-run\nkmactl run\nkmactl run --yes   (from a script: no question)", 0,
     CTL_FLAG_YES | CTL_FLAG_DRY_RUN, ctl_verb_run},
    {"follow", "", "follow the current plan until it ends or pauses (as run does)", "kmactl follow",
     0, 0, ctl_verb_follow},
    {"confirm", "STEP", "a manual step is done; the plan checks its effect and goes on",
     "kmactl confirm 3", 1, 0, ctl_verb_confirm},
    {"pause", "", "pause the plan after what is in flight; nothing new starts", "kmactl pause", 0,
     0, ctl_verb_pause},
    {"resume", "", "resume a paused plan; its gates are checked again", "kmactl resume", 0, 0,
     ctl_verb_resume},
    {"abort", "[--yes]", "end the plan; steps done stay done", "kmactl abort --yes", 0,
     CTL_FLAG_YES, ctl_verb_abort},
    {"history", "", "the journal: every step, decision and operator action",
     "kmactl history\nkmactl history --json", 0, 0, ctl_verb_history},
};

#define NVERBS (sizeof(verbs) / sizeof(verbs[0]))

/* The verb flags, in enum ctl_flag's bit order. */
static const struct {
	const char *name, *arg, *help;
} flags[] = {
    {"--stale", "SECONDS", "a node whose last report is older is not healthy (1 to 86400; 90)"},
    {"--name", "NAME", "the node's display name"},
    {"--address", "HOST:PORT", "where its peers reach the node's mesh listener"},
    {"--serial", "HEX", "its enrolled certificate serial, when it is enrolled already"},
    {"--yes", "", "do not ask; needed where there is no terminal to ask at"},
    {"--dry-run", "", "show what would be done and do nothing"},
    {"--watch", "", "again every 2 s until interrupted"},
};

#define NFLAGS (sizeof(flags) / sizeof(flags[0]))

/* ---- command line ---- */

/* How many leading words of argv spell words ("node add" = 2), or 0 when they do not. */
static int match_words(const char *words, int argc, char **argv)
{
	const char *p = words;
	int i = 0;

	while (*p) {
		size_t n = strcspn(p, " ");

		if (i >= argc || strlen(argv[i]) != n || strncmp(argv[i], p, n) != 0)
			return 0;
		i++;
		p += n;
		p += *p == ' ';
	}
	return i;
}

/* The verb the first words of argv name (the longest match), and how many words it took. */
static const struct ctl_verb *lookup(int argc, char **argv, int *nwords)
{
	for (size_t i = 0; i < NVERBS; i++) {
		int words = match_words(verbs[i].words, argc, argv);

		if (words) {
			*nwords = words;
			return &verbs[i];
		}
	}
	return NULL;
}

/*
 * Says that argv's first words name no verb, with the nearest one when there is one: among
 * the node verbs after "node", else among all verbs' first words and whole names.
 */
static void unknown_verb(int argc, char **argv, FILE *err)
{
	const char *known[NVERBS * 2];
	const char *near;
	size_t n = 0;
	bool node = strcmp(argv[0], "node") == 0;

	if (node && argc < 2) {
		fprintf(err, "kmactl: node needs one of list, add, remove, set-serial, token "
		             "(try kmactl help node)\n");
		return;
	}
	for (size_t i = 0; i < NVERBS; i++) {
		bool is_node = strncmp(verbs[i].words, "node ", 5) == 0;

		if (node && is_node)
			known[n++] = verbs[i].words + 5;
		else if (!node && !is_node)
			known[n++] = verbs[i].words;
	}
	if (!node)
		known[n++] = "node";
	near = suggest_nearest(argv[node], known, n);
	if (near)
		fprintf(err, "kmactl: unknown command '%s%s'; did you mean '%s%s'?\n",
		        node ? "node " : "", argv[node], node ? "node " : "", near);
	else
		fprintf(err, "kmactl: unknown command '%s%s' (try kmactl help)\n",
		        node ? "node " : "", argv[node]);
}

const struct ctl_verb *ctl_cmd_find(int argc, char **argv, const struct ctl_opts *opts, int *nwords,
                                    FILE *err)
{
	const struct ctl_verb *v;
	int words = 0;

	if (argc == 0) {
		fprintf(err, "kmactl: no command (try kmactl help)\n");
		return NULL;
	}
	v = lookup(argc, argv, &words);
	if (!v) {
		unknown_verb(argc, argv, err);
		return NULL;
	}
	if (argc - words != v->nargs) {
		fprintf(err, "kmactl: usage: kmactl %s %s (try kmactl %s --help)\n", v->words,
		        v->usage, v->words);
		return NULL;
	}
	for (size_t b = 0; b < NFLAGS; b++) {
		if ((opts->given & (1u << b)) && !(v->flags & (1u << b))) {
			fprintf(err, "kmactl: %s does not take %s (try kmactl %s --help)\n",
			        v->words, flags[b].name, v->words);
			return NULL;
		}
	}
	if ((v->flags & CTL_FLAG_NAME) && !(opts->given & CTL_FLAG_NAME)) {
		fprintf(err, "kmactl: %s needs --name NAME\n", v->words);
		return NULL;
	}
	if ((v->flags & CTL_FLAG_ADDRESS) && !(opts->given & CTL_FLAG_ADDRESS)) {
		fprintf(err, "kmactl: %s needs --address HOST:PORT\n", v->words);
		return NULL;
	}
	*nwords = words;
	return v;
}

/* Prints text with every line indented by two spaces. */
static void indented(FILE *out, const char *text)
{
	while (*text) {
		size_t n = strcspn(text, "\n");

		fprintf(out, "  %.*s\n", (int)n, text);
		text += n;
		text += *text == '\n';
	}
}

/* Prints a sentence of text, capitalised and ended with a full stop, in lines of width. */
static void sentence(FILE *out, const char *text, size_t width)
{
	size_t col = 0;
	bool first = true;

	while (*text) {
		size_t n = strcspn(text, " ");

		if (col > 0 && col + 1 + n > width) {
			fputc('\n', out);
			col = 0;
		} else if (col > 0) {
			fputc(' ', out);
			col++;
		}
		if (first && n > 0) {
			fputc(toupper((unsigned char)text[0]), out);
			fprintf(out, "%.*s", (int)n - 1, text + 1);
			first = false;
		} else {
			fprintf(out, "%.*s", (int)n, text);
		}
		col += n;
		text += n;
		text += strspn(text, " ");
	}
	fprintf(out, ".\n");
}

static void verb_help(FILE *out, const struct ctl_verb *v)
{
	fprintf(out, "usage: kmactl [global options] %s%s%s\n\n", v->words, v->usage[0] ? " " : "",
	        v->usage);
	sentence(out, v->summary, 78);
	if (v->flags) {
		fprintf(out, "\nOptions:\n");
		for (size_t b = 0; b < NFLAGS; b++) {
			char left[32];

			if (!(v->flags & (1u << b)))
				continue;
			snprintf(left, sizeof(left), "%s%s%s", flags[b].name,
			         flags[b].arg[0] ? " " : "", flags[b].arg);
			fprintf(out, "  %-20s %s\n", left, flags[b].help);
		}
	}
	fprintf(out, "\nExample%s:\n", strchr(v->example, '\n') ? "s" : "");
	indented(out, v->example);
	fprintf(out, "\nGlobal options (-c FILE, --url, --cert, --key, --ca, --json) and exit "
	             "statuses: kmactl --help\n");
}

/* The node verbs, when help is asked for "node" alone. */
static void node_help(FILE *out)
{
	fprintf(out, "usage: kmactl [global options] node VERB ...\n\nThe cluster's nodes:\n");
	for (size_t i = 0; i < NVERBS; i++) {
		if (strncmp(verbs[i].words, "node ", 5) != 0)
			continue;
		fprintf(out, "  %s%s%s\n      %s\n", verbs[i].words, verbs[i].usage[0] ? " " : "",
		        verbs[i].usage, verbs[i].summary);
	}
	fprintf(out, "\nEach one's options and an example: kmactl node VERB --help\n");
}

int ctl_cmd_help_for(int argc, char **argv, FILE *out, FILE *err)
{
	const struct ctl_verb *v;
	int words;

	if (argc == 0) {
		ctl_cmd_help(out);
		return KMA_EXIT_OK;
	}
	v = lookup(argc, argv, &words);
	if (v) {
		verb_help(out, v);
		return KMA_EXIT_OK;
	}
	if (strcmp(argv[0], "node") == 0 && argc == 1) {
		node_help(out);
		return KMA_EXIT_OK;
	}
	unknown_verb(argc, argv, err);
	return KMA_EXIT_USAGE;
}

void ctl_cmd_help(FILE *out)
{
	fprintf(out,
	        "usage: kmactl [options] COMMAND [arguments]\n\n"
	        "The operator's view of a kma cluster, through the coordinator's operator API.\n\n"
	        "Commands:\n");
	for (size_t i = 0; i < NVERBS; i++) {
		fprintf(out, "  %s%s%s\n", verbs[i].words, verbs[i].usage[0] ? " " : "",
		        verbs[i].usage);
		fprintf(out, "      %s\n", verbs[i].summary);
	}
	fprintf(out, "  help [COMMAND]\n      this help, or a command's options and examples (as "
	             "kmactl COMMAND --help)\n");
	fprintf(
	    out,
	    "\nOptions:\n"
	    "  -c, --config FILE     configuration (default $KMACTL_CONFIG, else "
	    "%s)\n"
	    "      --url URL         coordinator, https://HOST:PORT (overrides [kmactl] url);\n"
	    "                        its instances: a list (URL,URL), or --url again\n"
	    "      --cert FILE       operator certificate, PEM (overrides [kmactl] cert)\n"
	    "      --key FILE        its private key, PEM (overrides [kmactl] key)\n"
	    "      --ca FILE         CA of the coordinator's certificate (overrides [kmactl] ca)\n"
	    "  -w, --write-out FMT   table (default) or json\n"
	    "      --json            same as -w json\n"
	    "  -h, --help            this help; after a command, that command's help\n"
	    "  -V, --version         the version\n"
	    "\nConfiguration file:\n"
	    "  [kmactl]\n"
	    "  url = https://coord.example:8443\n"
	    "  cert = /etc/kma-agent/operator.pem\n"
	    "  key = /etc/kma-agent/operator.key\n"
	    "  ca = /etc/kma-agent/coord-ca.pem\n"
	    "\nExamples:\n"
	    "  kmactl status              is the cluster healthy, and if not, which node?\n"
	    "  kmactl diagnose            the findings, their evidence and remedies\n"
	    "  kmactl run                 the recovery they call for, step by step\n"
	    "  kmactl node add --help     a command's options and an example\n"
	    "\nExit status:\n"
	    "  0   ok, healthy\n"
	    "  1   not healthy, or the coordinator refused the request (its reason is printed)\n"
	    "  2   cannot reach or authenticate to the coordinator (connection, TLS), or it "
	    "failed\n"
	    "  64  usage error\n"
	    "  66  a certificate, key, CA or named configuration file cannot be read\n"
	    "  69  the coordinator does not support the command yet\n"
	    "  78  configuration error (file:line)\n",
	    KMACTL_DEFAULT_CONFIG);
}

/* ---- verbs ---- */

static int nodes_view(const struct ctl_ctx *c, bool status)
{
	json_object *doc = NULL, *arr;
	struct ctl_node *nodes = NULL;
	size_t n = 0, counts[CTL_NODE_HEALTH_COUNT] = {0};
	int64_t now = (int64_t)time(NULL);
	unsigned stale = c->opts->stale_s;
	char why[256];
	int ret = ctl_get_json(c, "/v1/nodes", &doc);

	if (ret != KMA_EXIT_OK)
		goto exit;
	ret = KMACTL_EXIT_REMOTE;
	if (ctl_nodes_parse(doc, &nodes, &n, why, sizeof(why)) != 0) {
		fprintf(stderr, "kmactl: %s\n", why);
		goto exit;
	}
	for (size_t i = 0; i < n; i++)
		counts[ctl_node_health(&nodes[i], now, stale)]++;
	if (c->opts->output == CTL_OUT_JSON) {
		if (status) {
			/* the API's document, each node with the verdict kmactl drew */
			json_object_object_get_ex(doc, "nodes", &arr);
			for (size_t i = 0; i < n; i++)
				json_object_object_add(
				    json_object_array_get_idx(arr, i), "health",
				    json_object_new_string(ctl_node_health_id(
				        ctl_node_health(&nodes[i], now, stale))));
			json_object_object_add(doc, "stale_seconds", json_object_new_int64(stale));
			json_object_object_add(doc, "healthy",
			                       json_object_new_boolean(counts[CTL_NODE_OK] == n));
			json_object_object_add(doc, "plan", ctl_plan_current(c));
		}
		ctl_print_json(doc);
	} else if (n == 0) {
		printf("no nodes in the cluster\n");
	} else {
		if (ctl_nodes_render(nodes, n, now, stale, status, stdout) != 0) {
			fprintf(stderr, "kmactl: out of memory\n");
			ret = KMA_EXIT_SOFTWARE;
			goto exit;
		}
		if (status) {
			printf("\n%zu node%s: %zu ok", n, n == 1 ? "" : "s", counts[CTL_NODE_OK]);
			if (counts[CTL_NODE_NEVER])
				printf(", %zu never reported", counts[CTL_NODE_NEVER]);
			if (counts[CTL_NODE_STALE])
				printf(", %zu stale (no report for more than %us)",
				       counts[CTL_NODE_STALE], stale);
			if (counts[CTL_NODE_BAD_STATE])
				printf(", %zu not enrolled", counts[CTL_NODE_BAD_STATE]);
			if (counts[CTL_NODE_REFUSED])
				printf(", %zu reporting with a certificate that is not enrolled",
				       counts[CTL_NODE_REFUSED]);
			if (counts[CTL_NODE_KEYS_DOWN])
				printf(", %zu with the key service down",
				       counts[CTL_NODE_KEYS_DOWN]);
			if (counts[CTL_NODE_UNHEALTHY])
				printf(", %zu not healthy (kmactl diagnose says why)",
				       counts[CTL_NODE_UNHEALTHY]);
			printf("\n");
		}
	}
	if (status)
		ctl_plan_status(c, c->opts->output == CTL_OUT_JSON ? NULL : stdout);
	ret = !status || counts[CTL_NODE_OK] == n ? KMA_EXIT_OK : KMA_EXIT_FAILURE;
exit:
	free(nodes);
	json_object_put(doc);
	return ret;
}

/*
 * What status --watch compares between two looks when the output is not a terminal: the
 * nodes' states and verdicts and the plan's steps, not the ages that change every second.
 */
static void status_signature(const struct ctl_ctx *c, char *sig, size_t size)
{
	json_object *nodes = NULL;
	struct ctl_node *list = NULL;
	size_t n = 0, used = 0;
	char why[128];

	sig[0] = '\0';
	if (ctl_get_json(c, "/v1/nodes", &nodes) == KMA_EXIT_OK &&
	    ctl_nodes_parse(nodes, &list, &n, why, sizeof(why)) == 0) {
		for (size_t i = 0; i < n && used < size; i++)
			used +=
			    (size_t)snprintf(sig + used, size - used, "%s %s %s %d %s|", list[i].id,
			                     list[i].serial, list[i].state, list[i].keys_ok,
			                     ctl_node_health_id(ctl_node_health(
			                         &list[i], (int64_t)time(NULL), c->opts->stale_s)));
	}
	ctl_plan_signature(c, sig + (used < size ? used : size), used < size ? size - used : 0);
	free(list);
	json_object_put(nodes);
}

static int verb_status(const struct ctl_ctx *c, char **args)
{
	char *last, *now;
	bool tty = isatty(STDOUT_FILENO);
	int ret;

	(void)args;
	if (!c->opts->watch)
		return nodes_view(c, true);
	last = calloc(2, 16384);
	if (!last)
		return KMA_EXIT_SOFTWARE;
	now = last + 16384;
	for (;;) {
		status_signature(c, now, 16384);
		if (tty || strcmp(now, last) != 0) {
			if (tty)
				printf("\033[H\033[2J");
			else if (last[0])
				printf("\n");
			ret = nodes_view(c, true);
			if (ret == KMACTL_EXIT_REMOTE)
				printf("(the coordinator does not answer; trying again)\n");
			fflush(stdout);
			memcpy(last, now, 16384);
		}
		sleep(2);
	}
}

static int verb_node_list(const struct ctl_ctx *c, char **args)
{
	(void)args;
	return nodes_view(c, false);
}

/* Prints every member of the answer as "key: value", the token last on its own line. */
static void print_fields(json_object *doc)
{
	json_object *token = NULL;

	if (!json_object_is_type(doc, json_type_object))
		return;
	json_object_object_foreach(doc, key, val)
	{
		if (strcmp(key, "token") == 0) {
			token = val;
			continue;
		}
		if (json_object_is_type(val, json_type_string) && json_object_get_string_len(val))
			printf("%s: %s\n", key, json_object_get_string(val));
		else if (!val || json_object_is_type(val, json_type_string))
			printf("%s: -\n", key);
		else
			printf("%s: %s\n", key,
			       json_object_to_json_string_ext(val, JSON_C_TO_STRING_PLAIN));
	}
	/* the one-time token goes to stdout only, never to a log or stderr */
	if (token)
		printf("token: %s\n", json_object_get_string(token));
}

static int verb_node_add(const struct ctl_ctx *c, char **args)
{
	json_object *req = json_object_new_object(), *doc = NULL;
	struct ctl_http_reply r = {0};
	int ret = KMA_EXIT_SOFTWARE;

	if (!ctl_node_id_ok(args[0])) {
		ret = ctl_bad_node_id(args[0]);
		goto exit;
	}
	if (!req)
		goto exit;
	json_object_object_add(req, "node_id", json_object_new_string(args[0]));
	json_object_object_add(req, "name", json_object_new_string(c->opts->name));
	json_object_object_add(req, "address", json_object_new_string(c->opts->address));
	if (c->opts->serial)
		json_object_object_add(req, "enrolled_serial",
		                       json_object_new_string(c->opts->serial));
	ret = ctl_transport(c, "POST", "/v1/nodes",
	                    json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN), &r);
	if (ret != KMA_EXIT_OK)
		goto exit;
	if (r.status != 200 && r.status != 201) {
		ret = ctl_refused("POST", "/v1/nodes", &r);
		goto exit;
	}
	ret = ctl_parse("/v1/nodes", &r, &doc);
	if (ret != KMA_EXIT_OK)
		goto exit;
	if (c->opts->output == CTL_OUT_JSON) {
		ctl_print_json(doc);
	} else {
		printf("node %s added\n", args[0]);
		print_fields(doc);
	}
exit:
	ctl_http_reply_free(&r);
	json_object_put(doc);
	json_object_put(req);
	return ret;
}

static int verb_node_remove(const struct ctl_ctx *c, char **args)
{
	struct ctl_http_reply r = {0};
	char path[32 + NODE_ID_MAX];
	int ret;

	if (!ctl_node_id_ok(args[0]))
		return ctl_bad_node_id(args[0]);
	if (!c->opts->yes) {
		if (!isatty(STDIN_FILENO)) {
			fprintf(
			    stderr,
			    "kmactl: refusing to remove %s without --yes (no terminal to ask)\n",
			    args[0]);
			return KMA_EXIT_USAGE;
		}
		char q[128 + NODE_ID_MAX];

		snprintf(q, sizeof(q),
		         "Remove node %s from the cluster? Its peers drop it from their tables.",
		         args[0]);
		if (!ctl_ask(q)) {
			fprintf(stderr, "kmactl: not removed\n");
			return KMA_EXIT_FAILURE;
		}
	}
	snprintf(path, sizeof(path), "/v1/nodes/%s", args[0]);
	ret = ctl_transport(c, "DELETE", path, NULL, &r);
	if (ret != KMA_EXIT_OK)
		goto exit;
	if (r.status != 204 && r.status != 200) {
		ret = ctl_refused("DELETE", path, &r);
		goto exit;
	}
	if (c->opts->output == CTL_OUT_JSON)
		printf("{\n  \"node_id\": \"%s\",\n  \"removed\": true\n}\n", args[0]);
	else
		printf("node %s removed\n", args[0]);
exit:
	ctl_http_reply_free(&r);
	return ret;
}

static int verb_node_set_serial(const struct ctl_ctx *c, char **args)
{
	json_object *req = json_object_new_object(), *doc = NULL, *v;
	struct ctl_http_reply r = {0};
	char path[32 + NODE_ID_MAX];
	int ret = KMA_EXIT_SOFTWARE;

	if (!ctl_node_id_ok(args[0])) {
		ret = ctl_bad_node_id(args[0]);
		goto exit;
	}
	if (!req)
		goto exit;
	snprintf(path, sizeof(path), "/v1/nodes/%s/serial", args[0]);
	json_object_object_add(req, "enrolled_serial", json_object_new_string(args[1]));
	ret = ctl_transport(c, "PUT", path,
	                    json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN), &r);
	if (ret != KMA_EXIT_OK)
		goto exit;
	if (r.status != 200) {
		ret = ctl_refused("PUT", path, &r);
		goto exit;
	}
	ret = ctl_parse(path, &r, &doc);
	if (ret != KMA_EXIT_OK)
		goto exit;
	if (c->opts->output == CTL_OUT_JSON)
		ctl_print_json(doc);
	else
		printf("node %s: enrolled serial %s\n", args[0],
		       json_object_object_get_ex(doc, "enrolled_serial", &v) &&
		               json_object_is_type(v, json_type_string)
		           ? json_object_get_string(v)
		           : args[1]);
exit:
	ctl_http_reply_free(&r);
	json_object_put(doc);
	json_object_put(req);
	return ret;
}

static int verb_mesh(const struct ctl_ctx *c, char **args)
{
	json_object *nodes = NULL, *mesh = NULL;
	struct ctl_mesh m;
	char why[256];
	int ret;

	(void)args;
	ctl_mesh_init(&m);
	ret = ctl_get_json(c, "/v1/nodes", &nodes);
	if (ret == KMA_EXIT_OK)
		ret = ctl_get_json(c, "/v1/mesh", &mesh);
	if (ret != KMA_EXIT_OK)
		goto exit;
	ret = KMACTL_EXIT_REMOTE;
	if (ctl_mesh_build(&m, nodes, mesh, why, sizeof(why)) != 0) {
		fprintf(stderr, "kmactl: %s\n", why);
		goto exit;
	}
	if (c->opts->output == CTL_OUT_JSON) {
		ctl_print_json(mesh);
	} else if (ctl_mesh_render(&m, stdout) != 0) {
		fprintf(stderr, "kmactl: out of memory\n");
		ret = KMA_EXIT_SOFTWARE;
		goto exit;
	}
	ret = ctl_mesh_all_ok(&m) ? KMA_EXIT_OK : KMA_EXIT_FAILURE;
exit:
	ctl_mesh_free(&m);
	json_object_put(nodes);
	json_object_put(mesh);
	return ret;
}

static int verb_diagnose(const struct ctl_ctx *c, char **args)
{
	static const char path[] = "/v1/diagnosis";
	struct ctl_http_reply r = {0};
	json_object *doc = NULL;
	bool healthy = false;
	char why[256];
	int ret;

	(void)args;
	ret = ctl_transport(c, "GET", path, NULL, &r);
	if (ret != KMA_EXIT_OK)
		goto exit;
	if (r.status == 404) {
		fprintf(stderr,
		        "kmactl: the coordinator at %s does not support diagnosis yet (GET %s "
		        "answered 404)\n",
		        r.url, path);
		ret = KMA_EXIT_UNAVAILABLE;
		goto exit;
	}
	if (r.status != 200) {
		ret = ctl_refused("GET", path, &r);
		goto exit;
	}
	ret = ctl_parse(path, &r, &doc);
	if (ret != KMA_EXIT_OK)
		goto exit;
	if (ctl_diag_check(doc, &healthy, why, sizeof(why)) != 0) {
		fprintf(stderr, "kmactl: %s\n", why);
		ret = KMACTL_EXIT_REMOTE;
		goto exit;
	}
	if (c->opts->output == CTL_OUT_JSON)
		ctl_print_json(doc);
	else
		ctl_diag_render(doc, stdout);
	ret = healthy ? KMA_EXIT_OK : KMA_EXIT_FAILURE;
exit:
	ctl_http_reply_free(&r);
	json_object_put(doc);
	return ret;
}

int ctl_cmd_run(const struct ctl_verb *verb, char **args, const struct ctl_opts *opts,
                const struct ctl_config *cfg)
{
	struct ctl_ctx c = {.opts = opts, .cfg = cfg};

	return verb->run(&c, args);
}
