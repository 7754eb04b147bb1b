/* test_profile.c: unit tests for src/profile.c (strict profile parsing and the writer). */
#include "kt_test.h"
#include "profile.h"

#include <errno.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>

static char err[1024];

static struct kt_profile *parse(const char *s)
{
	err[0] = '\0';
	struct kt_profile *p = kt_profile_parse(s, strlen(s), "p.yaml", err, sizeof(err));
	if (!p) {
		KT_CHECK(err[0] != '\0');
		KT_CHECK(strchr(err, '\n') == NULL);
	}
	return p;
}

static const char *parse_err(const char *s)
{
	struct kt_profile *p = parse(s);
	if (p) {
		kt_profile_free(p);
		return "(parsed fine)";
	}
	return err;
}

/* Writes p, parses it back, and checks the result equals p. */
static void check_round_trip(const struct kt_profile *p)
{
	char *y = kt_profile_to_yaml(p);
	KT_REQUIRE(y);
	struct kt_profile *back = parse(y);
	KT_CHECK(back != NULL);
	if (back)
		KT_CHECK(kt_profile_equal(p, back));
	kt_profile_free(back);
	free(y);
}

#define EXAMPLE                                                                     \
	"context: dev            # optional, default: current-context\n"            \
	"namespace: default      # default namespace for forwards that name none\n" \
	"forwards:\n"                                                               \
	"  - target: svc/web     # svc/ pod/ deploy/ sts/ ds/\n"                    \
	"    namespace: shop\n"                                                     \
	"    ports: [80, 443]    # optional subset, default: every TCP port\n"      \
	"  - target: deploy/api\n"                                                  \
	"  - target: sts/kafka\n"                                                   \
	"    namespace: data\n"                                                     \
	"    ports:\n"                                                              \
	"      - 9092\n"

KT_TEST(issue_example)
{
	struct kt_profile *p = parse(EXAMPLE);
	KT_REQUIRE(p);
	KT_CHECK_STR_EQ(p->context, "dev");
	KT_CHECK_STR_EQ(p->namespace, "default");
	KT_REQUIRE(p->nforwards == 3);
	const struct kt_profile_forward *f = &p->forwards[0];
	KT_CHECK_INT_EQ(f->kind, KT_PROFILE_SERVICE);
	KT_CHECK_STR_EQ(f->name, "web");
	KT_CHECK_STR_EQ(f->namespace, "shop");
	KT_CHECK_INT_EQ(f->nports, 2);
	KT_CHECK_INT_EQ(f->ports[0], 80);
	KT_CHECK_INT_EQ(f->ports[1], 443);
	f = &p->forwards[1];
	KT_CHECK_INT_EQ(f->kind, KT_PROFILE_DEPLOYMENT);
	KT_CHECK_STR_EQ(f->name, "api");
	KT_CHECK(f->namespace == NULL);
	KT_CHECK_INT_EQ(f->nports, 0);
	KT_CHECK(f->ports == NULL);
	f = &p->forwards[2];
	KT_CHECK_INT_EQ(f->kind, KT_PROFILE_STATEFULSET);
	KT_CHECK_INT_EQ(f->nports, 1);
	KT_CHECK_INT_EQ(f->ports[0], 9092);
	check_round_trip(p);
	kt_profile_free(p);
	kt_profile_free(NULL);
}

KT_TEST(empty_and_minimal)
{
	struct kt_profile *p = parse("");
	KT_REQUIRE(p);
	KT_CHECK(p->context == NULL && p->namespace == NULL && p->nforwards == 0);
	check_round_trip(p);
	kt_profile_free(p);
	p = parse("# only a comment\n---\n");
	KT_REQUIRE(p);
	kt_profile_free(p);
	p = parse("forwards: []\ncontext: null\n");
	KT_REQUIRE(p);
	KT_CHECK(p->context == NULL && p->nforwards == 0);
	kt_profile_free(p);
	KT_CHECK_STR_EQ(parse_err("forwards: []\n---\nforwards: []\n"),
			"p.yaml:3:1: a profile is a single YAML document");
	KT_CHECK_STR_EQ(parse_err("- svc/web\n"),
			"p.yaml:1:1: a profile must be a mapping (context, namespace, forwards)");
}

KT_TEST(kinds_like_kubectl)
{
	static const struct {
		const char *target;
		enum kt_profile_kind kind;
		const char *name;
	} ok[] = {
	    {"svc/a", KT_PROFILE_SERVICE, "a"},
	    {"service/a", KT_PROFILE_SERVICE, "a"},
	    {"Services/a", KT_PROFILE_SERVICE, "a"},
	    {"SVC/a", KT_PROFILE_SERVICE, "a"},
	    {"pod/p-0", KT_PROFILE_POD, "p-0"},
	    {"pods/p.x", KT_PROFILE_POD, "p.x"},
	    {"po/1p", KT_PROFILE_POD, "1p"},
	    {"bare-name", KT_PROFILE_POD, "bare-name"}, /* kubectl: a bare NAME is a pod */
	    {"deploy/d", KT_PROFILE_DEPLOYMENT, "d"},
	    {"Deployment/d", KT_PROFILE_DEPLOYMENT, "d"},
	    {"deployments.apps/d", KT_PROFILE_DEPLOYMENT, "d"},
	    {"sts/s", KT_PROFILE_STATEFULSET, "s"},
	    {"statefulset/s", KT_PROFILE_STATEFULSET, "s"},
	    {"StatefulSets.apps/s", KT_PROFILE_STATEFULSET, "s"},
	    {"ds/x", KT_PROFILE_DAEMONSET, "x"},
	    {"daemonset/x", KT_PROFILE_DAEMONSET, "x"},
	    {"daemonsets/x", KT_PROFILE_DAEMONSET, "x"},
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		enum kt_profile_kind k = KT_PROFILE_POD;
		const char *name = NULL;
		KT_CHECK_INT_EQ(kt_profile_target_parse(ok[i].target, &k, &name, err, sizeof(err)),
				0);
		KT_CHECK_INT_EQ(k, ok[i].kind);
		KT_CHECK_STR_EQ(name, ok[i].name);
	}
	static const struct {
		const char *target, *why;
	} bad[] = {
	    {"job/x", "invalid target \"job/x\": unknown kind \"job\" (use svc/, pod/, deploy/, "
		      "sts/ or ds/)"},
	    {"/x", "invalid target \"/x\": unknown kind \"\" (use svc/, pod/, deploy/, sts/ or "
		   "ds/)"},
	    {"svc/", "invalid target \"svc/\": \"\" is not a valid service name (a DNS-1035 label: "
		     "at most 63 lower-case letters, digits and '-', starting with a letter and "
		     "ending with a letter or digit)"},
	    {"svc/1web", NULL},	 /* a Service name starts with a letter (DNS-1035) */
	    {"svc/Web", NULL},	 /* lower case only */
	    {"svc/a.b", NULL},	 /* no dots in a Service name */
	    {"pod/a..b", NULL},	 /* empty label */
	    {"pod/-a", NULL},	 /* starts with '-' */
	    {"pod/a-", NULL},	 /* ends with '-' */
	    {"pod/a.-b", NULL},	 /* label starting with '-' */
	    {"pod/a_b", NULL},	 /* '_' is not allowed */
	    {"svc/a/b", NULL},	 /* '/' in the name */
	    {"deploy/d ", NULL}, /* trailing space */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		enum kt_profile_kind k;
		const char *name;
		err[0] = '\0';
		KT_CHECK_INT_EQ(kt_profile_target_parse(bad[i].target, &k, &name, err, sizeof(err)),
				-EINVAL);
		if (bad[i].why)
			KT_CHECK_STR_EQ(err, bad[i].why);
		else
			KT_CHECK(strstr(err, "is not a valid") != NULL);
	}
	/* Length limits: 63 for a label (Service), 253 for a subdomain. */
	char name[300];
	memset(name, 'a', sizeof(name));
	enum kt_profile_kind k;
	const char *n;
	memcpy(name, "svc/", 4);
	name[4 + 63] = '\0';
	KT_CHECK_INT_EQ(kt_profile_target_parse(name, &k, &n, err, sizeof(err)), 0);
	name[4 + 63] = 'a';
	name[4 + 64] = '\0';
	KT_CHECK_INT_EQ(kt_profile_target_parse(name, &k, &n, err, sizeof(err)), -EINVAL);
	memcpy(name, "pod/", 4);
	memset(name + 4, 'a', sizeof(name) - 4);
	name[4 + 253] = '\0';
	KT_CHECK_INT_EQ(kt_profile_target_parse(name, &k, &n, err, sizeof(err)), 0);
	name[4 + 253] = 'a';
	name[4 + 254] = '\0';
	KT_CHECK_INT_EQ(kt_profile_target_parse(name, &k, &n, err, sizeof(err)), -EINVAL);
	KT_CHECK_STR_EQ(kt_profile_kind_name(KT_PROFILE_DAEMONSET), "ds");
	KT_CHECK(kt_profile_valid_namespace("kube-system"));
	KT_CHECK(!kt_profile_valid_namespace("kube.system"));
	KT_CHECK(kt_profile_valid_namespace("0abc"));
	KT_CHECK(!kt_profile_valid_namespace(""));
}

KT_TEST(unknown_keys_and_types)
{
	KT_CHECK_STR_EQ(parse_err("context: dev\nnamesapce: x\n"),
			"p.yaml:2:1: unknown key \"namesapce\" (a profile has context, namespace "
			"and forwards)");
	KT_CHECK_STR_EQ(parse_err("forwards:\n  - target: svc/web\n    port: [80]\n"),
			"p.yaml:3:5: unknown key \"port\" (a forward has target, namespace and "
			"ports)");
	KT_CHECK_STR_EQ(parse_err("forwards:\n  - target: svc/web\n    ports: 80\n"),
			"p.yaml:3:12: ports must be a list of port numbers, e.g. [80, 443]");
	KT_CHECK_STR_EQ(parse_err("forwards:\n  - target: svc/web\n    ports: []\n"),
			"p.yaml:3:12: ports is empty; leave it out to forward every TCP port");
	KT_CHECK_STR_EQ(parse_err("forwards:\n- target: svc/web\n  ports: [80, \"443\"]\n"),
			"p.yaml:3:15: a port must be an integer from 1 to 65535");
	KT_CHECK_STR_EQ(parse_err("forwards:\n- target: svc/web\n  ports: [0]\n"),
			"p.yaml:3:11: a port must be an integer from 1 to 65535");
	KT_CHECK_STR_EQ(parse_err("forwards:\n- target: svc/web\n  ports: [65536]\n"),
			"p.yaml:3:11: a port must be an integer from 1 to 65535");
	KT_CHECK_STR_EQ(parse_err("forwards:\n- target: svc/web\n  ports: [80.5]\n"),
			"p.yaml:3:11: a port must be an integer from 1 to 65535");
	KT_CHECK_STR_EQ(parse_err("forwards:\n- target: svc/web\n  ports: [80, 81, 80]\n"),
			"p.yaml:3:19: port 80 is listed twice");
	KT_CHECK_STR_EQ(parse_err("forwards:\n- namespace: shop\n"),
			"p.yaml:2:3: a forward needs a target such as svc/web");
	KT_CHECK_STR_EQ(parse_err("forwards:\n- svc/web\n"),
			"p.yaml:2:3: a forward must be a mapping with a target");
	KT_CHECK_STR_EQ(parse_err("forwards:\n- target: [svc/web]\n"),
			"p.yaml:2:11: target must be a string such as svc/web");
	KT_CHECK_STR_EQ(parse_err("forwards: {target: svc/web}\n"),
			"p.yaml:1:11: forwards must be a list");
	KT_CHECK_STR_EQ(parse_err("forwards:\n- target: job/x\n"),
			"p.yaml:2:11: invalid target \"job/x\": unknown kind \"job\" (use svc/, "
			"pod/, deploy/, sts/ or ds/)");
	KT_CHECK_STR_EQ(parse_err("namespace: Shop\n"),
			"p.yaml:1:12: \"Shop\" is not a valid namespace name (a DNS-1123 label: at "
			"most 63 lower-case letters, digits and '-', starting and ending with a "
			"letter or digit)");
	KT_CHECK_STR_EQ(parse_err("forwards:\n- target: svc/web\n  namespace: 7\n"),
			"p.yaml:3:14: namespace must be a string");
	KT_CHECK_STR_EQ(parse_err("context: 7\n"),
			"p.yaml:1:10: context must be a non-empty string without control "
			"characters, at most 1024 bytes");
	KT_CHECK_STR_EQ(parse_err("context: \"a\\tb\"\n"),
			"p.yaml:1:10: context must be a non-empty string without control "
			"characters, at most 1024 bytes");
	/* YAML line breaks other than \n would fold when written back (found by fuzzing). */
	KT_CHECK_STR_EQ(parse_err("context: \"a\\Pb\"\n"),
			"p.yaml:1:10: context must be a non-empty string without control "
			"characters, at most 1024 bytes");
	KT_CHECK_STR_EQ(parse_err("context: \"a\\Lb\"\n"),
			"p.yaml:1:10: context must be a non-empty string without control "
			"characters, at most 1024 bytes");
	/* yamljson's own errors (syntax, duplicate keys) keep their positions. */
	KT_CHECK_STR_EQ(
	    parse_err("context: a\ncontext: b\n"),
	    "p.yaml:2:1: duplicate key \"context\" (first defined at line 1, column 1)");
	KT_CHECK(strncmp(parse_err("forwards: [\n"), "p.yaml:2:1: ", 12) == 0);
}

KT_TEST(duplicate_forwards)
{
	KT_CHECK_STR_EQ(
	    parse_err("forwards:\n- target: svc/web\n  namespace: shop\n"
		      "- target: deploy/web\n  namespace: shop\n"
		      "- target: service/web\n  namespace: shop\n  ports: [80]\n"),
	    "p.yaml:6:3: duplicate forward svc/web in namespace \"shop\" (first at line "
	    "2)");
	/* The profile's namespace decides what a forward without one means, even when it comes
	 * after the forwards. */
	KT_CHECK_STR_EQ(
	    parse_err("forwards:\n- target: svc/web\n- target: svc/web\n"
		      "  namespace: shop\nnamespace: shop\n"),
	    "p.yaml:3:3: duplicate forward svc/web in namespace \"shop\" (first at line "
	    "2)");
	KT_CHECK_STR_EQ(parse_err("forwards:\n- target: pod/a\n- target: a\n"),
			"p.yaml:3:3: duplicate forward pod/a (first at line 2)");
	/* Different namespaces or kinds are different forwards. */
	struct kt_profile *p = parse("namespace: a\nforwards:\n- target: svc/web\n"
				     "- target: svc/web\n  namespace: b\n- target: deploy/web\n");
	KT_REQUIRE(p);
	KT_CHECK_INT_EQ(p->nforwards, 3);
	KT_CHECK_INT_EQ(kt_profile_find(p, KT_PROFILE_SERVICE, "web", "a"), 0);
	KT_CHECK_INT_EQ(kt_profile_find(p, KT_PROFILE_SERVICE, "web", NULL), 0);
	KT_CHECK_INT_EQ(kt_profile_find(p, KT_PROFILE_SERVICE, "web", "b"), 1);
	KT_CHECK_INT_EQ(kt_profile_find(p, KT_PROFILE_DEPLOYMENT, "web", NULL), 2);
	KT_CHECK_INT_EQ(kt_profile_find(p, KT_PROFILE_POD, "web", NULL), -1);
	kt_profile_free(p);
}

/* Builds "forwards:" with n pod forwards. */
static char *many(size_t n)
{
	size_t cap = 32 + n * 32;
	char *s = malloc(cap);
	size_t off = (size_t)snprintf(s, cap, "forwards:\n");
	for (size_t i = 0; i < n; i++)
		off += (size_t)snprintf(s + off, cap - off, "- target: pod/p%zu\n", i);
	return s;
}

KT_TEST(forward_limit)
{
	char *s = many(KT_PROFILE_MAX_FORWARDS);
	struct kt_profile *p = parse(s);
	KT_REQUIRE(p);
	KT_CHECK_INT_EQ(p->nforwards, KT_PROFILE_MAX_FORWARDS);
	char e[256];
	KT_CHECK_INT_EQ(kt_profile_add(p, KT_PROFILE_POD, "one-more", NULL, NULL, 0, e, sizeof(e)),
			-E2BIG);
	KT_CHECK_STR_EQ(e, "a profile holds at most 4096 forwards");
	check_round_trip(p);
	kt_profile_free(p);
	free(s);
	s = many(KT_PROFILE_MAX_FORWARDS + 1);
	KT_CHECK_STR_EQ(parse_err(s), "p.yaml:2:1: 4097 forwards; a profile holds at most 4096");
	free(s);
}

KT_TEST(builder_api)
{
	struct kt_profile *p = kt_profile_new();
	KT_REQUIRE(p);
	char e[512];
	uint16_t ports[] = {443, 80};
	KT_CHECK_INT_EQ(kt_profile_set_context(p, "arn:aws:eks:eu-west-1:1:cluster/\"q\"\\ ünï"),
			0);
	KT_CHECK_INT_EQ(kt_profile_set_context(p, "bad\nctx"), -EINVAL);
	KT_CHECK_INT_EQ(kt_profile_set_context(p, "bad\xff"), -EINVAL);
	KT_CHECK_INT_EQ(kt_profile_set_namespace(p, "Bad"), -EINVAL);
	KT_CHECK_INT_EQ(kt_profile_set_namespace(p, "true"), 0); /* must be quoted when written */
	KT_CHECK_INT_EQ(kt_profile_add(p, KT_PROFILE_SERVICE, "web", "123", ports, 2, e, sizeof(e)),
			0);
	KT_CHECK_INT_EQ(kt_profile_add(p, KT_PROFILE_SERVICE, "web", "123", NULL, 0, e, sizeof(e)),
			-EEXIST);
	KT_CHECK_STR_EQ(e, "svc/web in namespace \"123\" is already forwarded");
	KT_CHECK_INT_EQ(kt_profile_add(p, KT_PROFILE_POD, "null", NULL, NULL, 0, e, sizeof(e)), 0);
	KT_CHECK_INT_EQ(kt_profile_add(p, KT_PROFILE_POD, "null", "true", NULL, 0, e, sizeof(e)),
			-EEXIST);
	KT_CHECK_INT_EQ(kt_profile_add(p, KT_PROFILE_SERVICE, "Web", NULL, NULL, 0, e, sizeof(e)),
			-EINVAL);
	uint16_t dup[] = {80, 80};
	KT_CHECK_INT_EQ(kt_profile_add(p, KT_PROFILE_SERVICE, "x", NULL, dup, 2, e, sizeof(e)),
			-EINVAL);
	KT_CHECK_STR_EQ(e, "port 80 is listed twice");
	uint16_t zero[] = {0};
	KT_CHECK_INT_EQ(kt_profile_add(p, KT_PROFILE_SERVICE, "x", NULL, zero, 1, e, sizeof(e)),
			-EINVAL);
	KT_CHECK_STR_EQ(e, "port 0 is not in 1..65535");
	KT_CHECK_INT_EQ(
	    kt_profile_add(p, KT_PROFILE_DAEMONSET, "a.b.c", "kube-system", NULL, 0, e, sizeof(e)),
	    0);
	KT_CHECK_INT_EQ(p->nforwards, 3);
	check_round_trip(p);

	char *y = kt_profile_to_yaml(p);
	KT_REQUIRE(y);
	KT_CHECK_STR_EQ(y, "# kubetun profile\n"
			   "context: \"arn:aws:eks:eu-west-1:1:cluster/\\\"q\\\"\\\\ ünï\"\n"
			   "namespace: \"true\"\n"
			   "forwards:\n"
			   "  - target: \"svc/web\"\n"
			   "    namespace: \"123\"\n"
			   "    ports: [443, 80]\n"
			   "  - target: \"pod/null\"\n"
			   "  - target: \"ds/a.b.c\"\n"
			   "    namespace: \"kube-system\"\n");
	free(y);

	/* A profile edited by hand into something invalid is refused by the writer. */
	free(p->forwards[0].name);
	p->forwards[0].name = strdup("Not/Valid");
	errno = 0;
	KT_CHECK(kt_profile_to_yaml(p) == NULL);
	KT_CHECK_INT_EQ(errno, EINVAL);
	free(p->forwards[0].name);
	/* Now make forwards[0] the same as forwards[1] (pod/null, profile namespace). */
	p->forwards[0].name = strdup("null");
	p->forwards[0].kind = KT_PROFILE_POD;
	free(p->forwards[0].namespace);
	p->forwards[0].namespace = NULL;
	errno = 0;
	KT_CHECK(kt_profile_to_yaml(p) == NULL); /* pod/null twice */
	KT_CHECK_INT_EQ(errno, EINVAL);
	kt_profile_free(p);
}

KT_TEST(load_from_file)
{
	char dir[] = "/tmp/kt_prof.XXXXXX";
	KT_REQUIRE(mkdtemp(dir));
	char path[256];
	snprintf(path, sizeof(path), "%s/p.yaml", dir);
	FILE *f = fopen(path, "w");
	KT_REQUIRE(f);
	fputs(EXAMPLE "  - target: pod/x\n    bogus: 1\n", f);
	fclose(f);
	err[0] = '\0';
	KT_CHECK(kt_profile_load(path, err, sizeof(err)) == NULL);
	char want[512];
	snprintf(want, sizeof(want),
		 "%s:13:5: unknown key \"bogus\" (a forward has target, namespace and ports)",
		 path);
	KT_CHECK_STR_EQ(err, want);
	f = fopen(path, "w");
	KT_REQUIRE(f);
	fputs(EXAMPLE, f);
	fclose(f);
	struct kt_profile *p = kt_profile_load(path, err, sizeof(err));
	KT_CHECK(p && p->nforwards == 3);
	kt_profile_free(p);
	KT_CHECK(kt_profile_load(dir, err, sizeof(err)) == NULL);
	snprintf(want, sizeof(want), "%s: not a regular file", dir);
	KT_CHECK_STR_EQ(err, want);
	unlink(path);
	KT_CHECK(kt_profile_load(path, err, sizeof(err)) == NULL);
	snprintf(want, sizeof(want), "%s: No such file or directory", path);
	KT_CHECK_STR_EQ(err, want);
	rmdir(dir);
}

KT_TEST_MAIN()
