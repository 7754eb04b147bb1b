/* test_fixture.c: fixture loading: the sample fixture loads; malformed fixtures give exactly
 * one `FILE:LINE:COL: message` line and create nothing; kind: List and undeclared namespaces. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"
#include "fixture.h"
#include "kt_test.h"
#include "store.h"

struct env {
	struct fc_store *s;
	struct fc_controller *ctl;
};

static struct env env_new(void)
{
	struct env e;
	struct fc_controller_opts o = {.nodes = 2, .grace_ms = 10, .replace_delay_ms = 10};

	e.s = fc_store_new();
	e.ctl = fc_controller_new(NULL, e.s, &o);
	return e;
}

static void env_free(struct env *e)
{
	fc_controller_free(e->ctl);
	fc_store_free(e->s);
}

/* Loads yaml as "f.yaml"; returns the error code, message in err. */
static int load(const char *yaml, char *err, size_t cap)
{
	struct env e = env_new();
	uint64_t rv0 = fc_store_rv(e.s);
	int r;

	err[0] = '\0';
	r = fc_fixture_load_buf(e.ctl, "f.yaml", yaml, strlen(yaml), err, cap);
	/* A fixture rejected by checking creates nothing. */
	if (r == -EINVAL && fc_store_rv(e.s) != rv0)
		snprintf(err, cap, "store changed by a rejected fixture");
	env_free(&e);
	return r;
}

#define EXPECT_ERR(yaml, want)                                              \
	do {                                                                \
		char err_[512];                                             \
		KT_CHECK_INT_EQ(load((yaml), err_, sizeof(err_)), -EINVAL); \
		KT_CHECK_STR_EQ(err_, (want));                              \
	} while (0)

KT_TEST(sample_fixture_loads)
{
	const char *dir = getenv("KT_SOURCE_DIR");
	char path[1024], err[512] = "";
	struct env e = env_new();

	snprintf(path, sizeof(path), "%s/tests/fixtures/basic.yaml", dir ? dir : ".");
	KT_CHECK_INT_EQ(fc_fixture_load_file(e.ctl, path, err, sizeof(err)), 0);
	KT_CHECK_STR_EQ(err, "");
	KT_CHECK(fc_store_get(e.s, FC_KIND_DEPLOYMENT, "shop", "web"));
	KT_CHECK(fc_store_get(e.s, FC_KIND_STATEFULSET, "data", "kafka"));
	KT_CHECK(fc_store_get(e.s, FC_KIND_POD, "data", "kafka-2"));
	KT_CHECK(fc_store_get(e.s, FC_KIND_POD, "default", "refuser"));
	KT_CHECK(fc_store_get(e.s, FC_KIND_SERVICE, "shop", "ext"));
	KT_CHECK(fc_store_get(e.s, FC_KIND_SERVICE, "default", "payments"));
	env_free(&e);
}

KT_TEST(unreadable_file)
{
	char err[512];
	struct env e = env_new();

	KT_CHECK_INT_EQ(fc_fixture_load_file(e.ctl, "/nonexistent/x.yaml", err, sizeof(err)),
			-ENOENT);
	KT_CHECK_STR_EQ(err, "/nonexistent/x.yaml: No such file or directory");
	env_free(&e);
}

KT_TEST(missing_kind_and_apiversion)
{
	EXPECT_ERR("apiVersion: v1\nmetadata:\n  name: x\n",
		   "f.yaml:1:1: kind: required field is missing");
	EXPECT_ERR("kind: Pod\nmetadata:\n  name: x\n",
		   "f.yaml:1:1: apiVersion: required field is missing");
	EXPECT_ERR("---\napiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n- 1\n- 2\n",
		   "f.yaml:6:1: expected a Kubernetes object (a mapping with apiVersion and kind)");
	EXPECT_ERR("apiVersion: v1\nkind: [Pod]\n", "f.yaml:2:7: kind: expected a string");
}

KT_TEST(unknown_kind_and_wrong_apiversion)
{
	EXPECT_ERR("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
		   "f.yaml:2:7: kind: unsupported kind \"ConfigMap\" (the fake cluster takes "
		   "Namespace, Service, Pod, Deployment, StatefulSet and DaemonSet)");
	EXPECT_ERR("apiVersion: v1\nkind: Deployment\nmetadata: {name: x}\n",
		   "f.yaml:1:13: apiVersion: \"v1\" does not serve kind Deployment (use apps/v1)");
	EXPECT_ERR("apiVersion: apps/v1\nkind: Service\nmetadata: {name: x}\n",
		   "f.yaml:1:13: apiVersion: \"apps/v1\" does not serve kind Service (use v1)");
	EXPECT_ERR("apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: x}\n",
		   "f.yaml:2:7: kind: EndpointSlice objects are made by the fake cluster's "
		   "controllers, not declared");
}

KT_TEST(metadata_problems)
{
	EXPECT_ERR("apiVersion: v1\nkind: Namespace\n",
		   "f.yaml:1:1: metadata: required field is missing");
	EXPECT_ERR("apiVersion: v1\nkind: Namespace\nmetadata:\n  labels: {a: b}\n",
		   "f.yaml:3:1: metadata.name: required field is missing");
	EXPECT_ERR(
	    "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: Shop\n",
	    "f.yaml:4:9: metadata.name: \"Shop\" is not a valid Namespace name (a DNS label: "
	    "lower-case letters, digits and '-', at most 63 characters)");
	EXPECT_ERR("apiVersion: v1\nkind: Service\nmetadata:\n  name: 9web\nspec:\n  ports: "
		   "[{port: 80}]\n",
		   "f.yaml:4:9: metadata.name: \"9web\" is not a valid Service name (a DNS label: "
		   "lower-case letters, digits and '-', starting with a letter, at most 63 "
		   "characters)");
	EXPECT_ERR(
	    "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n  labels:\n    version: 1\n",
	    "f.yaml:6:14: metadata.labels.version: expected a string, got number 1");
}

static const char deploy_head[] = "apiVersion: apps/v1\n"
				  "kind: Deployment\n"
				  "metadata:\n"
				  "  name: web\n"
				  "  namespace: shop\n"
				  "spec:\n";

static char *with_head(const char *head, const char *rest)
{
	static char buf[4096];

	snprintf(buf, sizeof(buf), "%s%s", head, rest);
	return buf;
}

KT_TEST(workload_field_types)
{
	EXPECT_ERR(with_head(deploy_head, "  replicas: \"x\"\n"),
		   "f.yaml:7:13: spec.replicas: expected an integer, got string \"x\"");
	EXPECT_ERR(with_head(deploy_head, "  replicas: 2.5\n"),
		   "f.yaml:7:13: spec.replicas: expected an integer, got number 2.5");
	EXPECT_ERR(with_head(deploy_head, "  replicas: 1\n"),
		   "f.yaml:6:1: spec.selector: required field is missing");
	EXPECT_ERR(with_head(deploy_head, "  selector:\n    matchLabels: {app: web}\n"
					  "  template:\n    metadata:\n      labels: {app: api}\n"
					  "    spec:\n      containers: [{name: c, image: x}]\n"),
		   "f.yaml:11:7: spec.template.metadata.labels: `selector` does not match template "
		   "`labels`");
	EXPECT_ERR(
	    with_head(deploy_head,
		      "  selector:\n    matchLabels: {app: web}\n"
		      "  template:\n    metadata:\n      labels: {app: web}\n"
		      "    spec:\n      containers:\n        - name: c\n          image: x\n"
		      "          ports:\n            - name: http\n"),
	    "f.yaml:17:15: spec.template.spec.containers[0].ports[0].containerPort: required "
	    "field is missing");
	EXPECT_ERR(with_head(deploy_head, "  selector:\n    matchExpressions:\n"
					  "      - {key: app, operator: Maybe, values: [web]}\n"
					  "  template:\n    metadata:\n      labels: {app: web}\n"
					  "    spec:\n      containers: [{name: c, image: x}]\n"),
		   "f.yaml:9:30: spec.selector.matchExpressions[0].operator: must be In, NotIn, "
		   "Exists or DoesNotExist, got \"Maybe\"");
	EXPECT_ERR(with_head(deploy_head, "  replicas: 100000\n"),
		   "f.yaml:7:13: spec.replicas: must be between 0 and 1000, got 100000");
}

static const char svc_head[] = "apiVersion: v1\n"
			       "kind: Service\n"
			       "metadata:\n"
			       "  name: web\n"
			       "spec:\n";

KT_TEST(service_ports)
{
	EXPECT_ERR(with_head(svc_head, "  selector: {app: web}\n  ports:\n    - name: http\n"
				       "      targetPort: 80\n"),
		   "f.yaml:8:7: spec.ports[0].port: required field is missing");
	EXPECT_ERR(
	    with_head(svc_head, "  ports:\n    - port: 80\n    - port: 81\n"),
	    "f.yaml:7:7: spec.ports[0].name: required when a Service has more than one port");
	EXPECT_ERR(
	    with_head(svc_head, "  ports:\n    - {name: a, port: 80}\n    - {name: a, port: 81}\n"),
	    "f.yaml:8:14: spec.ports[1].name: duplicate port name \"a\"");
	EXPECT_ERR(with_head(svc_head, "  ports:\n    - port: 80\n      targetPort: \"8080\"\n"),
		   "f.yaml:8:19: spec.ports[0].targetPort: \"8080\" is not a valid port name (1-15 "
		   "lower-case letters, digits and '-', with at least one letter)");
	EXPECT_ERR(with_head(svc_head, "  ports:\n    - port: 70000\n"),
		   "f.yaml:7:13: spec.ports[0].port: must be between 1 and 65535, got 70000");
	EXPECT_ERR(with_head(svc_head, "  type: ExternalName\n"),
		   "f.yaml:5:1: spec.externalName: required field is missing");
	EXPECT_ERR(with_head(svc_head, "  selector: {app: web}\n"),
		   "f.yaml:5:1: spec.ports: required field is missing");
	EXPECT_ERR(
	    with_head(svc_head, "  clusterIP: 10.1.2.3\n  ports: [{port: 80}]\n"),
	    "f.yaml:6:14: spec.clusterIP: 10.1.2.3 is not in the service range 10.96.0.0/12");
	EXPECT_ERR(with_head(svc_head, "  clusterIP: 10.96.0.1\n  ports: [{port: 80}]\n"),
		   "f.yaml:6:14: spec.clusterIP: 10.96.0.1 belongs to default/kubernetes");
	/* A headless Service may have no ports. */
	char err[512];

	KT_CHECK_INT_EQ(load(with_head(svc_head, "  clusterIP: None\n  selector: {app: x}\n"), err,
			     sizeof(err)),
			0);
}

KT_TEST(duplicates)
{
	EXPECT_ERR("apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n---\n"
		   "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: shop}\n"
		   "spec: {containers: [{name: c, image: x}]}\n---\n"
		   "apiVersion: v1\nkind: Pod\nmetadata:\n  namespace: shop\n  name: p\n"
		   "spec: {containers: [{name: c, image: x}]}\n",
		   "f.yaml:14:9: Pod \"shop/p\" is declared twice (first at line 7)");
	/* No namespace means default. */
	EXPECT_ERR(
	    "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 1}]}\n---\n"
	    "apiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: default}\n"
	    "spec: {ports: [{port: 1}]}\n",
	    "f.yaml:8:18: Service \"default/s\" is declared twice (first at line 3)");
	EXPECT_ERR(
	    "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n"
	    "spec: {clusterIP: 10.96.5.5, ports: [{port: 1}]}\n---\n"
	    "apiVersion: v1\nkind: Service\nmetadata: {name: b}\n"
	    "spec: {clusterIP: 10.96.5.5, ports: [{port: 1}]}\n",
	    "f.yaml:9:19: spec.clusterIP: 10.96.5.5 is already taken by Service \"default/a\" "
	    "(line 4)");
	EXPECT_ERR(
	    "apiVersion: v1\nkind: Service\nmetadata: {name: kubernetes}\nspec: {ports: [{port: "
	    "1}]}\n",
	    "f.yaml:3:18: Service \"default/kubernetes\" already exists in the fake cluster");
}

KT_TEST(yaml_syntax_error)
{
	char err[512];

	KT_CHECK_INT_EQ(load("apiVersion: v1\nkind: [Pod\n", err, sizeof(err)), -EINVAL);
	KT_CHECK(strncmp(err, "f.yaml:", 7) == 0);
	KT_CHECK(!strchr(err, '\n'));
}

KT_TEST(list_and_namespaces)
{
	const char *yaml = "apiVersion: v1\n"
			   "kind: List\n"
			   "items:\n"
			   "  - apiVersion: v1\n"
			   "    kind: Pod\n"
			   "    metadata: {name: p, namespace: made-up}\n"
			   "    spec: {containers: [{name: c, image: x}]}\n"
			   "  - apiVersion: v1\n"
			   "    kind: Namespace\n"
			   "    metadata: {name: default}\n";
	struct env e = env_new();
	char err[512] = "";

	KT_CHECK_INT_EQ(fc_fixture_load_buf(e.ctl, "f.yaml", yaml, strlen(yaml), err, sizeof(err)),
			0);
	KT_CHECK_STR_EQ(err, "");
	KT_CHECK(fc_store_get(e.s, FC_KIND_POD, "made-up", "p"));
	KT_CHECK(fc_store_get(e.s, FC_KIND_NAMESPACE, NULL, "made-up"));
	KT_CHECK(fc_store_get(e.s, FC_KIND_NAMESPACE, NULL, "kube-system"));
	env_free(&e);
	EXPECT_ERR("apiVersion: v1\nkind: List\nitems:\n  - apiVersion: v1\n    kind: Pod\n",
		   "f.yaml:4:5: metadata: required field is missing");
	EXPECT_ERR("apiVersion: v1\nkind: List\nitems: {a: b}\n",
		   "f.yaml:3:8: items: expected a sequence");
	EXPECT_ERR("apiVersion: v2\nkind: List\nitems: []\n",
		   "f.yaml:1:13: apiVersion: a List must be v1");
}

KT_TEST(empty_fixture_is_fine)
{
	char err[512];

	KT_CHECK_INT_EQ(load("", err, sizeof(err)), 0);
	KT_CHECK_INT_EQ(load("---\n# nothing\n---\n", err, sizeof(err)), 0);
}

KT_TEST_MAIN()
