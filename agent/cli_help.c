#include "cli_help.h"

#include <string.h>

#include "exitcodes.h"
#include "suggest.h"

struct command {
	const char *words;   /* "identity import" */
	const char *usage;   /* what follows the words */
	const char *summary; /* one line, for the global help */
	const char *text;    /* what it does, in full: lines of at most 78 columns */
	const char *options; /* "  --flag ARG   what it does\n" lines, or "" */
	const char *example; /* command lines, '\n' after each */
};

static const struct command commands[] = {
    {"run", "", "run the agent (the default when no command is given)",
     "Probes every peer of the mesh, answers their probes, reports to the coordinator and\n"
     "carries out its directives, until SIGTERM. SIGHUP checks the identity and the key\n"
     "service again and re-reads the peer table. Under systemd (Type=notify) it says when\n"
     "it is ready and pings the watchdog.\n",
     "",
     "kma-agent -c /etc/kma-agent/agent.conf\n"
     "kma-agent -c /etc/kma-agent/agent.conf --check-config\n"},
    {"identity", "[--json]", "the board identity and the node's identity state",
     "Prints what the HAL reads of the hardware (board serial, product UUID, disk, CPU, MAC),\n"
     "the identity record's node ID, certificate serial and validity, and whether the\n"
     "hardware is still the one the identity was bound to.\n",
     "  --json               as one JSON object\n",
     "kma-agent identity\nkma-agent identity --json\n"},
    {"identity import", "--key KEY.pem --cert CERT.pem --ca CA.pem [--node-id ID]",
     "install an identity from PEM files",
     "Checks that the key and certificate belong together, that the certificate verifies to\n"
     "the CA and is valid now, then writes the identity record atomically (mode 0600), bound\n"
     "to this hardware. The node ID is the certificate's CN; --node-id checks that it is ID.\n",
     "  --key FILE           the private key, PEM\n"
     "  --cert FILE          the certificate, PEM (a chain after it is kept)\n"
     "  --ca FILE            the cluster CA, PEM\n"
     "  --node-id ID         refuse a certificate that names another node\n",
     "kma-agent identity import --key node.key --cert node.pem --ca cluster-ca.pem\n"},
    {"quickstart", "--node-id ID (--token TOKEN | --token-file FILE)",
     "enrol: a new key, its certificate from the coordinator",
     "Makes a new P-256 key on the node, sends a CSR with the one-time enrolment token to the\n"
     "coordinator named in the configuration, and installs the certificate it signs. The\n"
     "token comes from `kmactl node token ID` (or `kmactl node add`). A running agent picks\n"
     "the new identity up by itself.\n",
     "  --node-id ID         this node's ID, as the cluster knows it\n"
     "  --token TOKEN        the one-time token (visible in the process list)\n"
     "  --token-file FILE    read the token from FILE instead (first line)\n",
     "kmactl node token a-kma02 | sed -n 's/^token: //p' > /root/token   (operator host)\n"
     "kma-agent quickstart --node-id a-kma02 --token-file /root/token\n"},
    {"factory-reset", "[--yes]", "erase this node's identity (key, certificate, enrolment)",
     "Erases the identity record through the HAL, and only it: the node must then be\n"
     "QuickStarted and rejoined. Asks [y/N] at a terminal; elsewhere needs --yes. A recovery\n"
     "plan runs this step itself when the node can take directives.\n",
     "  --yes, -y            do not ask\n", "kma-agent factory-reset --yes\n"},
    {"mesh", "[--json]", "the last observation of every peer, both directions",
     "Shows, for every peer of the table, the last outbound and inbound result as the running\n"
     "agent recorded it: cause, when it was last probed, when it was last ok. Exit 0 when\n"
     "every peer is ok, 1 otherwise, 66 when no agent has written a mesh yet.\n",
     "  --json               as JSON\n", "kma-agent mesh\n"},
    {"probe", "[options] HOST:PORT | --accept ADDR:PORT --once [options]",
     "one mutual-TLS handshake, and why it failed",
     "Runs one mutual-TLS handshake (outbound to HOST:PORT, or inbound from the first peer\n"
     "that connects to ADDR:PORT) and says why it failed, in the cause vocabulary (kma-agent\n"
     "causes). Without --ca/--cert/--key the node's own identity is used, with the CRL its\n"
     "coordinator sent. When a peer refuses our hello (handshake_failure, protocol_version,\n"
     "insufficient_security, or a close), one more short connection per TLS version asks\n"
     "which versions it accepts: protocol_mismatch or cipher_mismatch follows. Exit 0 only\n"
     "when the cause is ok.\n",
     "  --ca FILE, --cert FILE, --key FILE\n"
     "                       an identity other than the node's (all three)\n"
     "  --crl FILE           a CRL to check the peer against, with them\n"
     "  --config FILE        the configuration whose identity to use\n"
     "  --expect-id ID       the node ID the peer must present\n"
     "  --expect-serial HEX  the serial the peer must present (serial_mismatch otherwise)\n"
     "  --timeout S          give up after S seconds (1 to 3600; default 5)\n"
     "  --accept ADDR:PORT   wait for a peer to connect instead\n"
     "  --once               with --accept: one connection, then exit\n"
     "  --json               the result as JSON\n",
     "kma-agent probe 127.0.0.2:4433\n"
     "kma-agent probe --expect-id a-kma02 --expect-serial 5F3A9C01 --json 127.0.0.2:4433\n"
     "kma-agent probe --accept 127.0.0.1:4433 --once\n"},
    {"kmip", "[options]", "the KMIP check of the key service, once",
     "Sends the key service the board declares ([kmip] in board.conf) one KMIP request over\n"
     "mutual TLS, as the running agent does on every hardware check, and says what came\n"
     "back: the result (ok, connect, timeout, closed, malformed, failed), the connection's\n"
     "cause in the probe vocabulary, the latency, and the server's answer or its result\n"
     "status and reason. Options replace the board's values. Exit 0 only for a successful\n"
     "answer.\n",
     "  --address HOST:PORT  the key service (default: the board's [kmip] address)\n"
     "  --operation OP       discover_versions, query or get\n"
     "  --uid UID            with get: the canary key's unique identifier\n"
     "  --cert FILE, --key FILE, --ca FILE\n"
     "                       a client identity and server CA other than the node's\n"
     "  --server-name NAME   the name the key service's certificate must carry\n"
     "  --timeout S          give up after S seconds (1 to 60; default 5)\n"
     "  --json               the result as JSON\n",
     "kma-agent kmip\n"
     "kma-agent kmip --address 127.0.0.1:5696 --operation query --json\n"},
    {"causes", "[--json]", "the failure causes, with meaning and remedy",
     "Lists the cause vocabulary every probe, report and diagnosis uses, each with what it\n"
     "means and what to do about it.\n",
     "  --json               as JSON\n", "kma-agent causes\n"},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

void cli_help_global(FILE *out, const char *default_config)
{
	fprintf(out, "usage: kma-agent [-c FILE] [-l LEVEL] [--check-config] [COMMAND [ARGS]]\n\n"
	             "The key-management appliance's agent: identity, mesh probes, reports and\n"
	             "recovery directives.\n\nCommands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(out, "  %-18s %s\n", commands[i].words, commands[i].summary);
	fprintf(out, "  %-18s %s\n", "help [COMMAND]",
	        "this help, or a command's options and examples");
	fprintf(
	    out,
	    "\nOptions:\n"
	    "  -c, --config FILE        configuration file (default %s)\n"
	    "  -l, --log-level LEVEL    err, warn, notice, info or debug\n"
	    "      --check-config       check the configuration, the board and every file they\n"
	    "                           name, then exit\n"
	    "  -V, --version            print the version\n"
	    "  -h, --help               this text; after a command, that command's help\n"
	    "\n"
	    "Examples:\n"
	    "  kma-agent --check-config          is this node's configuration usable?\n"
	    "  kma-agent identity                who does this node say it is?\n"
	    "  kma-agent mesh                    which peers does it reach?\n"
	    "  kma-agent quickstart --help       enrol it\n"
	    "\n"
	    "Exit status: 0 ok, 1 not ok (mesh, probe), 64 usage, 65 corrupt data, 66 missing\n"
	    "input, 74 HAL or I/O failure, 78 configuration error.\n",
	    default_config);
}

/* The command words name, the longest match; NULL when none. */
static const struct command *lookup(int argc, char **argv)
{
	const struct command *best = NULL;

	for (size_t i = 0; i < NCOMMANDS; i++) {
		const char *p = commands[i].words;
		int w = 0;

		while (*p && w < argc) {
			size_t n = strcspn(p, " ");

			if (strlen(argv[w]) != n || strncmp(argv[w], p, n) != 0)
				break;
			w++;
			p += n;
			p += *p == ' ';
		}
		if (!*p && (!best || strlen(commands[i].words) > strlen(best->words)))
			best = &commands[i];
	}
	return best;
}

bool cli_help_known(const char *cmd)
{
	char *argv[1] = {(char *)cmd};

	return strcmp(cmd, "help") == 0 || lookup(1, argv) != NULL;
}

void cli_help_unknown(const char *cmd)
{
	const char *known[NCOMMANDS + 1];
	const char *near;
	size_t n = 0;

	for (size_t i = 0; i < NCOMMANDS; i++)
		if (!strchr(commands[i].words, ' '))
			known[n++] = commands[i].words;
	known[n++] = "help";
	near = suggest_nearest(cmd, known, n);
	if (near)
		fprintf(stderr, "kma-agent: unknown command '%s'; did you mean '%s'?\n", cmd, near);
	else
		fprintf(stderr, "kma-agent: unknown command '%s' (try kma-agent help)\n", cmd);
}

static void command_help(FILE *out, const struct command *c)
{
	const char *e = c->example;

	fprintf(out, "usage: kma-agent [-c FILE] %s%s%s\n\n%s", c->words, c->usage[0] ? " " : "",
	        c->usage, c->text);
	if (c->options[0])
		fprintf(out, "\nOptions:\n%s", c->options);
	fprintf(out, "\nExample%s:\n", strchr(e, '\n') != e + strlen(e) - 1 ? "s" : "");
	while (*e) {
		size_t n = strcspn(e, "\n");

		fprintf(out, "  %.*s\n", (int)n, e);
		e += n;
		e += *e == '\n';
	}
	fprintf(out, "\nGlobal options and exit statuses: kma-agent --help\n");
}

int cli_help(int argc, char **argv, FILE *out, const char *default_config)
{
	const struct command *c;

	if (argc == 0 || strcmp(argv[0], "help") == 0) {
		cli_help_global(out, default_config);
		return KMA_EXIT_OK;
	}
	c = lookup(argc, argv);
	if (!c) {
		cli_help_unknown(argv[0]);
		return KMA_EXIT_USAGE;
	}
	command_help(out, c);
	return KMA_EXIT_OK;
}

bool cli_help_asked(int argc, char **argv, int first)
{
	for (int i = first; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			return false;
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return true;
	}
	return false;
}
