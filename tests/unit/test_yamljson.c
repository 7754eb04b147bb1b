/* test_yamljson.c: unit tests for src/yamljson.c (YAML -> cJSON with positions). */
#include "kt_test.h"
#include "yamljson.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>

static char err[512];

static struct kt_yaml *load(const char *s)
{
	err[0] = '\0';
	return kt_yaml_load(s, strlen(s), "t.yaml", err, sizeof(err));
}

/* Loads s expecting failure; returns the message (in err). */
static const char *load_err(const char *s)
{
	struct kt_yaml *y = load(s);
	if (y) {
		kt_yaml_free(y);
		return "(loaded fine)";
	}
	KT_CHECK(strchr(err, '\n') == NULL);
	return err;
}

static const cJSON *get(const cJSON *o, const char *k)
{
	return cJSON_GetObjectItemCaseSensitive(o, k);
}

static int line_of(const struct kt_yaml *y, const cJSON *n)
{
	int l = 0, c = 0;
	return kt_yaml_node_pos(y, n, &l, &c) == 0 ? l : -1;
}

static int col_of(const struct kt_yaml *y, const cJSON *n)
{
	int l = 0, c = 0;
	return kt_yaml_node_pos(y, n, &l, &c) == 0 ? c : -1;
}

static bool is_num(const cJSON *n, double v)
{
	return cJSON_IsNumber(n) && n->valuedouble == v;
}

static bool is_str(const cJSON *n, const char *v)
{
	return cJSON_IsString(n) && strcmp(n->valuestring, v) == 0;
}

KT_TEST(plain_scalars_core_schema)
{
	struct kt_yaml *y = load("n1: ~\nn2: null\nn3: Null\nn4: NULL\nn5:\n"
				 "b1: true\nb2: True\nb3: TRUE\nb4: false\nb5: False\nb6: FALSE\n"
				 "i1: 42\ni2: -17\ni3: +5\ni4: 0\ni5: -0\ni6: 0x1F\ni7: 0o17\n"
				 "i8: 0b101\ni9: 0644\ni10: 089\n"
				 "f1: 1.5\nf2: 1e3\nf3: .5\nf4: -1.5e-3\nf5: 1.\nf6: 2E+2\n"
				 "s1: hello world\ns2: 0x\ns3: 1_000\ns4: 2024-01-01\ns5: .\n"
				 "s6: 1e\ns7: 12:30\ns8: \"-\"\ns9: 0o8\n");
	KT_REQUIRE(y);
	KT_CHECK_INT_EQ(kt_yaml_doc_count(y), 1);
	const cJSON *d = kt_yaml_doc(y, 0);
	const char *nulls[] = {"n1", "n2", "n3", "n4", "n5"};
	for (size_t i = 0; i < 5; i++)
		KT_CHECK(cJSON_IsNull(get(d, nulls[i])));
	KT_CHECK(cJSON_IsTrue(get(d, "b1")) && cJSON_IsTrue(get(d, "b2")) &&
		 cJSON_IsTrue(get(d, "b3")));
	KT_CHECK(cJSON_IsFalse(get(d, "b4")) && cJSON_IsFalse(get(d, "b5")) &&
		 cJSON_IsFalse(get(d, "b6")));
	KT_CHECK(is_num(get(d, "i1"), 42));
	KT_CHECK(is_num(get(d, "i2"), -17));
	KT_CHECK(is_num(get(d, "i3"), 5));
	KT_CHECK(is_num(get(d, "i4"), 0));
	KT_CHECK(is_num(get(d, "i5"), 0) && !signbit(get(d, "i5")->valuedouble));
	KT_CHECK(is_num(get(d, "i6"), 31));
	KT_CHECK(is_num(get(d, "i7"), 15));
	KT_CHECK(is_num(get(d, "i8"), 5));
	KT_CHECK(is_num(get(d, "i9"), 420)); /* octal, as Kubernetes reads file modes */
	KT_CHECK(is_num(get(d, "i10"), 89)); /* not octal, so a decimal number */
	KT_CHECK(is_num(get(d, "f1"), 1.5));
	KT_CHECK(is_num(get(d, "f2"), 1000));
	KT_CHECK(is_num(get(d, "f3"), 0.5));
	KT_CHECK(is_num(get(d, "f4"), -1.5e-3));
	KT_CHECK(is_num(get(d, "f5"), 1));
	KT_CHECK(is_num(get(d, "f6"), 200));
	KT_CHECK(is_str(get(d, "s1"), "hello world"));
	KT_CHECK(is_str(get(d, "s2"), "0x"));
	KT_CHECK(is_str(get(d, "s3"), "1_000"));
	KT_CHECK(is_str(get(d, "s4"), "2024-01-01"));
	KT_CHECK(is_str(get(d, "s5"), "."));
	KT_CHECK(is_str(get(d, "s6"), "1e"));
	KT_CHECK(is_str(get(d, "s7"), "12:30"));
	KT_CHECK(is_str(get(d, "s8"), "-"));
	KT_CHECK(is_str(get(d, "s9"), "0o8"));
	kt_yaml_free(y);
}

KT_TEST(yaml11_words_stay_strings)
{
	struct kt_yaml *y = load("[yes, no, on, off, Yes, NO, y, n]");
	KT_REQUIRE(y);
	const cJSON *d = kt_yaml_doc(y, 0);
	const char *want[] = {"yes", "no", "on", "off", "Yes", "NO", "y", "n"};
	KT_CHECK_INT_EQ(cJSON_GetArraySize(d), 8);
	for (int i = 0; i < 8; i++)
		KT_CHECK(is_str(cJSON_GetArrayItem(d, i), want[i]));
	kt_yaml_free(y);
}

KT_TEST(quoted_and_block_scalars_are_strings)
{
	struct kt_yaml *y = load("a: \"12\"\nb: 'true'\nc: \"null\"\nd: ''\ne: |\n  7\nf: >-\n"
				 "  1.5\n  x\ng: \"\\u00e9\\t\"\n");
	KT_REQUIRE(y);
	const cJSON *d = kt_yaml_doc(y, 0);
	KT_CHECK(is_str(get(d, "a"), "12"));
	KT_CHECK(is_str(get(d, "b"), "true"));
	KT_CHECK(is_str(get(d, "c"), "null"));
	KT_CHECK(is_str(get(d, "d"), ""));
	KT_CHECK(is_str(get(d, "e"), "7\n"));
	KT_CHECK(is_str(get(d, "f"), "1.5 x"));
	KT_CHECK(is_str(get(d, "g"), "\xc3\xa9\t"));
	kt_yaml_free(y);
}

KT_TEST(tags_honoured)
{
	struct kt_yaml *y = load("a: !!str 12\nb: !!int \"12\"\nc: !!float 3\nd: !!bool \"true\"\n"
				 "e: !!null ''\nf: ! 12\ng: !!map {x: 1}\nh: !!seq [1]\n"
				 "i: !!str\nj: !!float '2.5'\n");
	KT_REQUIRE(y);
	const cJSON *d = kt_yaml_doc(y, 0);
	KT_CHECK(is_str(get(d, "a"), "12"));
	KT_CHECK(is_num(get(d, "b"), 12));
	KT_CHECK(is_num(get(d, "c"), 3));
	KT_CHECK(cJSON_IsTrue(get(d, "d")));
	KT_CHECK(cJSON_IsNull(get(d, "e")));
	KT_CHECK(is_str(get(d, "f"), "12"));
	KT_CHECK(is_num(get(get(d, "g"), "x"), 1));
	KT_CHECK(cJSON_IsArray(get(d, "h")));
	KT_CHECK(is_str(get(d, "i"), ""));
	KT_CHECK(is_num(get(d, "j"), 2.5));
	kt_yaml_free(y);
}

KT_TEST(tag_errors)
{
	KT_CHECK_STR_EQ(load_err("a: !foo x"), "t.yaml:1:4: unsupported tag !foo");
	KT_CHECK_STR_EQ(load_err("a: !!binary aGk="),
			"t.yaml:1:4: unsupported tag !!binary on a scalar");
	KT_CHECK_STR_EQ(load_err("a: !!int abc"), "t.yaml:1:4: invalid !!int value \"abc\"");
	KT_CHECK_STR_EQ(load_err("a: !!bool yes"), "t.yaml:1:4: invalid !!bool value \"yes\"");
	KT_CHECK_STR_EQ(load_err("a: !!null x"), "t.yaml:1:4: invalid !!null value \"x\"");
	KT_CHECK_STR_EQ(load_err("a: !!float x"), "t.yaml:1:4: invalid !!float value \"x\"");
	KT_CHECK_STR_EQ(load_err("a:\n  b: !!seq {c: 1}"),
			"t.yaml:2:6: unsupported tag !!seq on a mapping");
	KT_CHECK_STR_EQ(load_err("- !!int [1]"), "t.yaml:1:3: unsupported tag !!int on a sequence");
}

KT_TEST(integer_precision_limit)
{
	struct kt_yaml *y =
	    load("a: 9007199254740992\nb: -9007199254740992\nc: 0x20000000000000\n");
	KT_REQUIRE(y);
	const cJSON *d = kt_yaml_doc(y, 0);
	KT_CHECK(is_num(get(d, "a"), 9007199254740992.0));
	KT_CHECK(is_num(get(d, "b"), -9007199254740992.0));
	KT_CHECK(is_num(get(d, "c"), 9007199254740992.0));
	kt_yaml_free(y);

	KT_CHECK_STR_EQ(load_err("x: 1\ny: 9007199254740993\n"),
			"t.yaml:2:4: integer 9007199254740993 cannot be represented exactly "
			"(magnitude above 2^53); quote it to keep it as a string");
	KT_CHECK_STR_EQ(load_err("- -9007199254740993"),
			"t.yaml:1:3: integer -9007199254740993 cannot be represented exactly "
			"(magnitude above 2^53); quote it to keep it as a string");
	KT_CHECK(strstr(load_err("a: 0x20000000000001"), "t.yaml:1:4: integer 0x20000000000001"));
	KT_CHECK(strstr(load_err("a: 99999999999999999999999999999999"), "t.yaml:1:4: integer"));
	KT_CHECK(strstr(load_err("a: !!int 9007199254740993"), "t.yaml:1:4: integer"));
	/* Quoting keeps the exact digits as a string. */
	y = load("a: \"9007199254740993\"");
	KT_REQUIRE(y);
	KT_CHECK(is_str(get(kt_yaml_doc(y, 0), "a"), "9007199254740993"));
	kt_yaml_free(y);
}

KT_TEST(inf_nan_and_overflow_rejected)
{
	KT_CHECK_STR_EQ(load_err("a: .inf"), "t.yaml:1:4: .inf cannot be represented in JSON");
	KT_CHECK_STR_EQ(load_err("a: -.Inf"), "t.yaml:1:4: -.Inf cannot be represented in JSON");
	KT_CHECK_STR_EQ(load_err("a: .NaN"), "t.yaml:1:4: .NaN cannot be represented in JSON");
	KT_CHECK_STR_EQ(load_err("a: !!float .nan"),
			"t.yaml:1:4: .nan cannot be represented in JSON");
	KT_CHECK_STR_EQ(load_err("a: 1e400"), "t.yaml:1:4: number 1e400 is out of range");
	/* Quoted, they are just strings. */
	struct kt_yaml *y = load("a: '.inf'");
	KT_REQUIRE(y);
	KT_CHECK(is_str(get(kt_yaml_doc(y, 0), "a"), ".inf"));
	kt_yaml_free(y);
}

static const char manifest[] = "apiVersion: v1\n"	  /* 1 */
			       "kind: Service\n"	  /* 2 */
			       "metadata:\n"		  /* 3 */
			       "  name: web\n"		  /* 4 */
			       "spec:\n"		  /* 5 */
			       "  selector: {app: web}\n" /* 6 */
			       "  ports:\n"		  /* 7 */
			       "  - name: http\n"	  /* 8 */
			       "    port: 80\n"		  /* 9 */
			       "    targetPort: http\n"	  /* 10 */
			       "---\n"			  /* 11 */
			       "# only a comment\n"	  /* 12 */
			       "---\n"			  /* 13 */
			       "apiVersion: apps/v1\n"	  /* 14 */
			       "kind: Deployment\n"	  /* 15 */
			       "spec:\n"		  /* 16 */
			       "  replicas: 2\n"	  /* 17 */
			       "---\n"			  /* 18 */
			       "null\n"			  /* 19 */
			       "--- ~\n"		  /* 20 */
			       "...\n"			  /* 21 */
			       "--- [a, b]\n"		  /* 22 */
			       "---\n";			  /* 23 */

KT_TEST(multi_document_and_empty_documents_skipped)
{
	struct kt_yaml *y = load(manifest);
	KT_REQUIRE(y);
	KT_CHECK_INT_EQ(kt_yaml_doc_count(y), 3);
	KT_CHECK(is_str(get(kt_yaml_doc(y, 0), "kind"), "Service"));
	KT_CHECK(is_str(get(kt_yaml_doc(y, 1), "kind"), "Deployment"));
	KT_CHECK(cJSON_IsArray(kt_yaml_doc(y, 2)));
	KT_CHECK(kt_yaml_doc(y, 3) == NULL);
	KT_CHECK_STR_EQ(kt_yaml_file(y), "t.yaml");
	kt_yaml_free(y);

	y = load("");
	KT_REQUIRE(y);
	KT_CHECK_INT_EQ(kt_yaml_doc_count(y), 0);
	kt_yaml_free(y);
	y = load("# nothing\n---\n---\n");
	KT_REQUIRE(y);
	KT_CHECK_INT_EQ(kt_yaml_doc_count(y), 0);
	kt_yaml_free(y);
	y = kt_yaml_load(NULL, 0, NULL, err, sizeof(err));
	KT_REQUIRE(y);
	KT_CHECK_INT_EQ(kt_yaml_doc_count(y), 0);
	KT_CHECK_STR_EQ(kt_yaml_file(y), "<input>");
	kt_yaml_free(y);
}

KT_TEST(positions_of_nested_nodes)
{
	struct kt_yaml *y = load(manifest);
	KT_REQUIRE(y);
	const cJSON *svc = kt_yaml_doc(y, 0);
	const cJSON *spec = get(svc, "spec");
	const cJSON *ports = get(spec, "ports");
	const cJSON *p0 = cJSON_GetArrayItem(ports, 0);
	int l, c;

	KT_CHECK_INT_EQ(line_of(y, svc), 1);
	KT_CHECK_INT_EQ(col_of(y, svc), 1);
	KT_CHECK_INT_EQ(line_of(y, get(get(svc, "metadata"), "name")), 4);
	KT_CHECK_INT_EQ(col_of(y, get(get(svc, "metadata"), "name")), 9);
	/* A flow mapping starts at its brace; its values are where they are written. */
	KT_CHECK_INT_EQ(line_of(y, get(spec, "selector")), 6);
	KT_CHECK_INT_EQ(col_of(y, get(spec, "selector")), 13);
	KT_CHECK_INT_EQ(col_of(y, get(get(spec, "selector"), "app")), 19);
	/* A block sequence starts at its first dash; an item mapping at its first key. */
	KT_CHECK_INT_EQ(line_of(y, ports), 8);
	KT_CHECK_INT_EQ(col_of(y, ports), 3);
	KT_CHECK_INT_EQ(line_of(y, p0), 8);
	KT_CHECK_INT_EQ(col_of(y, p0), 5);
	KT_CHECK_INT_EQ(line_of(y, get(p0, "port")), 9);
	KT_CHECK_INT_EQ(col_of(y, get(p0, "port")), 11);
	KT_CHECK_INT_EQ(kt_yaml_key_pos(y, get(p0, "targetPort"), &l, &c), 0);
	KT_CHECK_INT_EQ(l, 10);
	KT_CHECK_INT_EQ(c, 5);
	KT_CHECK_INT_EQ(kt_yaml_key_pos(y, p0, &l, &c), -ENOENT);  /* a sequence item */
	KT_CHECK_INT_EQ(kt_yaml_key_pos(y, svc, &l, &c), -ENOENT); /* a document root */
	/* Second document: lines count from the start of the file. */
	const cJSON *dep = kt_yaml_doc(y, 1);
	KT_CHECK_INT_EQ(line_of(y, dep), 14);
	KT_CHECK_INT_EQ(line_of(y, get(get(dep, "spec"), "replicas")), 17);
	KT_CHECK_INT_EQ(col_of(y, get(get(dep, "spec"), "replicas")), 13);
	KT_CHECK_INT_EQ(line_of(y, kt_yaml_doc(y, 2)), 22);
	KT_CHECK_INT_EQ(col_of(y, kt_yaml_doc(y, 2)), 5);
	KT_CHECK_INT_EQ(col_of(y, cJSON_GetArrayItem(kt_yaml_doc(y, 2), 1)), 9);
	/* A key with no value: the null sits right after the colon. */
	kt_yaml_free(y);
	y = load("a:\nb: 1\n");
	KT_REQUIRE(y);
	KT_CHECK_INT_EQ(line_of(y, get(kt_yaml_doc(y, 0), "a")), 1);
	KT_CHECK_INT_EQ(col_of(y, get(kt_yaml_doc(y, 0), "a")), 3);
	/* Columns count characters, not bytes. */
	kt_yaml_free(y);
	y = load("\xc3\xa9t\xc3\xa9: x\n");
	KT_REQUIRE(y);
	KT_CHECK_INT_EQ(col_of(y, get(kt_yaml_doc(y, 0), "\xc3\xa9t\xc3\xa9")), 6);
	/* Foreign nodes have no position. */
	cJSON *foreign = cJSON_CreateNull();
	KT_CHECK_INT_EQ(kt_yaml_node_pos(y, foreign, &l, &c), -ENOENT);
	KT_CHECK_INT_EQ(l, 0);
	KT_CHECK_INT_EQ(c, 0);
	KT_CHECK_INT_EQ(kt_yaml_node_pos(y, NULL, &l, &c), -ENOENT);
	KT_CHECK_INT_EQ(kt_yaml_node_pos(NULL, foreign, &l, &c), -ENOENT);
	cJSON_Delete(foreign);
	kt_yaml_free(y);
}

KT_TEST(json_input_accepted)
{
	struct kt_yaml *y =
	    load("{\n\t\"apiVersion\": \"v1\",\n\t\"clusters\": [{\"name\":\"c\",\"cluster\":"
		 "{\"server\":\"https://1.2.3.4:6443\",\"insecure-skip-tls-verify\":true}}],\n"
		 "\t\"n\": -1.25e2\n}\n");
	KT_REQUIRE(y);
	const cJSON *d = kt_yaml_doc(y, 0);
	const cJSON *cl = get(cJSON_GetArrayItem(get(d, "clusters"), 0), "cluster");
	KT_CHECK(is_str(get(cl, "server"), "https://1.2.3.4:6443"));
	KT_CHECK(cJSON_IsTrue(get(cl, "insecure-skip-tls-verify")));
	KT_CHECK(is_num(get(d, "n"), -125));
	KT_CHECK_INT_EQ(line_of(y, get(d, "n")), 4);
	KT_CHECK_INT_EQ(col_of(y, get(d, "n")), 7);
	kt_yaml_free(y);
}

KT_TEST(kubeconfig_shape)
{
	struct kt_yaml *y =
	    load("apiVersion: v1\nkind: Config\ncurrent-context: ctx\npreferences: {}\n"
		 "clusters:\n- name: c\n  cluster:\n    server: https://k:6443\n"
		 "    certificate-authority-data: LS0tLS1CRUdJTg==\n"
		 "users:\n- name: u\n  user:\n    token: abc.def\n"
		 "contexts:\n- name: ctx\n  context: {cluster: c, user: u}\n");
	KT_REQUIRE(y);
	const cJSON *d = kt_yaml_doc(y, 0);
	KT_CHECK(cJSON_IsObject(get(d, "preferences")));
	KT_CHECK_INT_EQ(cJSON_GetArraySize(get(d, "preferences")), 0);
	const cJSON *u = get(cJSON_GetArrayItem(get(d, "users"), 0), "user");
	KT_CHECK(is_str(get(u, "token"), "abc.def"));
	KT_CHECK_INT_EQ(line_of(y, get(u, "token")), 13);
	KT_CHECK_INT_EQ(col_of(y, get(u, "token")), 12);
	kt_yaml_free(y);
}

KT_TEST(duplicate_keys)
{
	KT_CHECK_STR_EQ(load_err("a: 1\nb:\n  c: 2\n  d: 3\n  c: 4\n"),
			"t.yaml:5:3: duplicate key \"c\" (first defined at line 3, column 3)");
	/* Quoting does not make a different key. */
	KT_CHECK_STR_EQ(load_err("{a: 1, \"a\": 2}"),
			"t.yaml:1:8: duplicate key \"a\" (first defined at line 1, column 2)");
	KT_CHECK_STR_EQ(load_err("<<: {a: 1}\n<<: {b: 1}\n"),
			"t.yaml:2:1: duplicate key \"<<\" (first defined at line 1, column 1)");
	/* The same key in different mappings is fine; so is a large mapping. */
	struct kt_yaml *y = load("a: {x: 1}\nb: {x: 2}\n");
	KT_CHECK(y != NULL);
	kt_yaml_free(y);
	char *big = malloc(20 * 5000 + 1);
	KT_REQUIRE(big);
	size_t off = 0;
	for (int i = 0; i < 5000; i++)
		off += (size_t)snprintf(big + off, 21, "k%d: %d\n", i, i);
	y = load(big);
	KT_REQUIRE(y);
	KT_CHECK_INT_EQ(cJSON_GetArraySize(kt_yaml_doc(y, 0)), 5000);
	kt_yaml_free(y);
	off += (size_t)snprintf(big + off, 21, "k4321: x\n");
	KT_CHECK_STR_EQ(load_err(big), "t.yaml:5001:1: duplicate key \"k4321\" (first defined at "
				       "line 4322, column 1)");
	free(big);
}

KT_TEST(non_scalar_keys)
{
	KT_CHECK_STR_EQ(load_err("a: 1\n? [x]\n: 2\n"),
			"t.yaml:2:3: mapping key must be a scalar, not a sequence");
	KT_CHECK_STR_EQ(load_err("{{a: 1}: 2}"),
			"t.yaml:1:2: mapping key must be a scalar, not a mapping");
	KT_CHECK_STR_EQ(load_err("x: &m {a: 1}\n*m : 2\n"),
			"t.yaml:2:1: mapping key must be a scalar, not a mapping (alias *m)");
	/* Scalar keys are their text, whatever their type would be as values. */
	struct kt_yaml *y = load("1: a\ntrue: b\n~: c\n0x10: d\n");
	KT_REQUIRE(y);
	const cJSON *d = kt_yaml_doc(y, 0);
	KT_CHECK(is_str(get(d, "1"), "a"));
	KT_CHECK(is_str(get(d, "true"), "b"));
	KT_CHECK(is_str(get(d, "~"), "c"));
	KT_CHECK(is_str(get(d, "0x10"), "d"));
	kt_yaml_free(y);
}

KT_TEST(aliases_are_deep_copies_with_positions)
{
	struct kt_yaml *y = load("base: &b\n  image: nginx\n  ports: [80, 443]\n"
				 "copy: *b\nkey: &k name\n*k : 5\nother: *k\n");
	KT_REQUIRE(y);
	const cJSON *d = kt_yaml_doc(y, 0);
	const cJSON *base = get(d, "base"), *copy = get(d, "copy");
	KT_CHECK(copy != base);
	KT_CHECK(cJSON_Compare(base, copy, 1));
	KT_CHECK(get(copy, "ports") != get(base, "ports"));
	/* The copy's root is at the alias; what it contains is at the anchored text. */
	KT_CHECK_INT_EQ(line_of(y, copy), 4);
	KT_CHECK_INT_EQ(col_of(y, copy), 7);
	KT_CHECK_INT_EQ(line_of(y, get(copy, "image")), 2);
	KT_CHECK_INT_EQ(col_of(y, get(copy, "image")), 10);
	KT_CHECK_INT_EQ(line_of(y, cJSON_GetArrayItem(get(copy, "ports"), 1)), 3);
	KT_CHECK_INT_EQ(col_of(y, cJSON_GetArrayItem(get(copy, "ports"), 1)), 15);
	/* An anchored scalar works as a key and as a value. */
	KT_CHECK(is_num(get(d, "name"), 5));
	KT_CHECK(is_str(get(d, "other"), "name"));
	/* Mutating a copy does not touch the original (they are distinct allocations). */
	KT_CHECK(is_str(get(base, "image"), "nginx"));
	kt_yaml_free(y);
	/* An anchored key may also be aliased as a value, resolved like any scalar. */
	y = load("&n 42: a\nb: *n\n");
	KT_REQUIRE(y);
	KT_CHECK(is_num(get(kt_yaml_doc(y, 0), "b"), 42));
	kt_yaml_free(y);
}

KT_TEST(alias_errors)
{
	KT_CHECK_STR_EQ(load_err("a: 1\nb: *nope\n"), "t.yaml:2:4: unknown alias *nope");
	KT_CHECK_STR_EQ(load_err("a: &x [1, *x]"),
			"t.yaml:1:11: alias *x refers to a node that contains it");
	/* Anchors do not cross documents. */
	KT_CHECK_STR_EQ(load_err("a: &x 1\n---\nb: *x\n"), "t.yaml:3:4: unknown alias *x");
	/* A redefined anchor: the latest definition wins. */
	struct kt_yaml *y = load("a: &x 1\nb: &x 2\nc: *x\n");
	KT_REQUIRE(y);
	KT_CHECK(is_num(get(kt_yaml_doc(y, 0), "c"), 2));
	kt_yaml_free(y);
}

KT_TEST(merge_keys)
{
	struct kt_yaml *y = load("base: &b {a: 1, b: 2}\n"
				 "more: &m {b: 20, c: 30}\n"
				 "one:\n  <<: *b\n  b: 3\n"
				 "two:\n  b: 3\n  <<: [*m, *b]\n"
				 "three:\n  \"<<\": x\n");
	KT_REQUIRE(y);
	const cJSON *d = kt_yaml_doc(y, 0);
	const cJSON *one = get(d, "one"), *two = get(d, "two");
	KT_CHECK_INT_EQ(cJSON_GetArraySize(one), 2);
	KT_CHECK(is_num(get(one, "a"), 1));
	KT_CHECK(is_num(get(one, "b"), 3)); /* explicit key wins, wherever it is */
	KT_CHECK(get(one, "<<") == NULL);
	KT_CHECK_INT_EQ(cJSON_GetArraySize(two), 3);
	KT_CHECK(is_num(get(two, "b"), 3));
	KT_CHECK(is_num(get(two, "c"), 30));
	KT_CHECK(is_num(get(two, "a"), 1));
	/* A quoted "<<" is an ordinary key. */
	KT_CHECK(is_str(get(get(d, "three"), "<<"), "x"));
	/* Merged values keep the anchored text's position. */
	KT_CHECK_INT_EQ(line_of(y, get(two, "c")), 2);
	KT_CHECK_INT_EQ(col_of(y, get(two, "c")), 21);
	kt_yaml_free(y);
	/* An anchor inside a merged value that an explicit key overrode stays usable. */
	y = load("x:\n  <<: {a: &v [1]}\n  a: 2\ny: *v\n");
	KT_REQUIRE(y);
	KT_CHECK(is_num(get(get(kt_yaml_doc(y, 0), "x"), "a"), 2));
	KT_CHECK(cJSON_IsArray(get(kt_yaml_doc(y, 0), "y")));
	kt_yaml_free(y);
	KT_CHECK_STR_EQ(load_err("a:\n  <<: 5\n"),
			"t.yaml:2:7: merge key (<<) needs a mapping or a sequence of mappings");
	KT_CHECK_STR_EQ(load_err("a:\n  <<: [{b: 1}, 2]\n"),
			"t.yaml:2:16: merge key (<<) needs a mapping or a sequence of mappings");
}

KT_TEST(alias_bomb_capped)
{
	const char *bomb = "a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]\n"
			   "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
			   "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
			   "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
			   "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
			   "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
			   "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
			   "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
			   "i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n";
	/* 10 * 9^4 + ... : the fifth level crosses 100000 alias-copied nodes. */
	KT_CHECK_STR_EQ(load_err(bomb), "t.yaml:6:8: alias *e expands to too many nodes (limit "
					"100000)");
	struct kt_yaml_limits lim = {.max_alias_nodes = 25};
	err[0] = '\0';
	struct kt_yaml *y =
	    kt_yaml_load_limits(bomb, strlen(bomb), "t.yaml", &lim, err, sizeof(err));
	KT_CHECK(y == NULL);
	/* *a is 10 nodes: two copies fit, the third does not. */
	KT_CHECK_STR_EQ(err, "t.yaml:2:14: alias *a expands to too many nodes (limit 25)");
	/* Long strings copied many times hit the byte budget. */
	const char *wide = "a: &a xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n" /* 50 */
			   "b: [*a, *a, *a]\n";
	lim = (struct kt_yaml_limits){.max_bytes = 120};
	y = kt_yaml_load_limits(wide, strlen(wide), "t.yaml", &lim, err, sizeof(err));
	KT_CHECK(y == NULL);
	KT_CHECK_STR_EQ(err, "t.yaml:2:13: alias *a expands to too many bytes (limit 120)");
}

KT_TEST(node_and_size_limits)
{
	struct kt_yaml_limits lim = {.max_nodes = 5};
	const char *s = "a: 1\nb: 2\nc: [3, 4]\n";
	err[0] = '\0';
	struct kt_yaml *y = kt_yaml_load_limits(s, strlen(s), "t.yaml", &lim, err, sizeof(err));
	KT_CHECK(y == NULL);
	/* Root, 1, 2, the sequence, 3 = 5 nodes; 4 is the sixth. */
	KT_CHECK_STR_EQ(err, "t.yaml:3:8: document too large: more than 5 nodes");
	lim.max_nodes = 6;
	y = kt_yaml_load_limits(s, strlen(s), "t.yaml", &lim, err, sizeof(err));
	KT_CHECK(y != NULL);
	kt_yaml_free(y);
	lim = (struct kt_yaml_limits){.max_bytes = 10};
	y = kt_yaml_load_limits(s, strlen(s), "t.yaml", &lim, err, sizeof(err));
	KT_CHECK(y == NULL);
	KT_CHECK_STR_EQ(err, "t.yaml:1:1: input is 20 bytes, more than the limit of 10");
}

static char *nested(int levels, const char *inner)
{
	size_t n = (size_t)levels * 2 + strlen(inner) + 1;
	char *s = malloc(n);
	if (!s)
		return NULL;
	memset(s, '[', (size_t)levels);
	memcpy(s + levels, inner, strlen(inner));
	memset(s + levels + strlen(inner), ']', (size_t)levels);
	s[n - 1] = '\0';
	return s;
}

KT_TEST(nesting_depth_limit)
{
	char *ok = nested(64, "1"), *bad = nested(65, "1");
	KT_REQUIRE(ok && bad);
	struct kt_yaml *y = load(ok);
	KT_CHECK(y != NULL);
	kt_yaml_free(y);
	KT_CHECK_STR_EQ(load_err(bad), "t.yaml:1:65: nesting deeper than 64 levels");
	free(ok);
	free(bad);
	/* Block style counts the same way. */
	KT_CHECK_STR_EQ(load_err("a:\n b:\n  c: 1\n"), "(loaded fine)");
	struct kt_yaml_limits lim = {.max_depth = 2};
	const char *s = "a:\n b:\n  c: 1\n";
	y = kt_yaml_load_limits(s, strlen(s), "t.yaml", &lim, err, sizeof(err));
	KT_CHECK(y == NULL);
	KT_CHECK_STR_EQ(err, "t.yaml:3:3: nesting deeper than 2 levels");
	/* An alias that would push a copy past the limit fails at the alias. */
	lim.max_depth = 3;
	s = "a: &x [[1]]\nb: *x\nc: [*x]\n";
	y = kt_yaml_load_limits(s, strlen(s), "t.yaml", &lim, err, sizeof(err));
	KT_CHECK(y == NULL);
	KT_CHECK_STR_EQ(err, "t.yaml:3:5: nesting deeper than 3 levels (through alias *x)");
}

KT_TEST(syntax_errors_have_exact_positions)
{
	KT_CHECK_STR_EQ(load_err("a: b: c\n"),
			"t.yaml:1:5: mapping values are not allowed in this context");
	KT_CHECK_STR_EQ(load_err("a:\n  - b\n - c\n"),
			"t.yaml:3:2: did not find expected key (while parsing a block mapping at "
			"line 1, column 1)");
	KT_CHECK_STR_EQ(load_err("x: 1\ny: [a, b\n"),
			"t.yaml:3:1: did not find expected ',' or ']' (while parsing a flow "
			"sequence at line 2, column 4)");
	KT_CHECK_STR_EQ(load_err("a: \"unterminated\n"),
			"t.yaml:2:1: found unexpected end of stream (while scanning a quoted "
			"scalar at line 1, column 4)");
	KT_CHECK_STR_EQ(load_err("\tb: 1\n"),
			"t.yaml:1:1: found character that cannot start any token (while scanning "
			"for the next token at line 1, column 1)");
	KT_CHECK_STR_EQ(load_err("a: 1\nb: \xff\n"),
			"t.yaml:2:4: invalid leading UTF-8 octet (byte 0xFF)");
	static const char nul[] = "a: \"\\0\"\n";
	KT_CHECK_STR_EQ(load_err(nul), "t.yaml:1:4: NUL character in a scalar is not supported");
	/* A raw NUL byte is a reader error, not a truncation. */
	static const char raw[] = "a: 1\nb: x\0y\n";
	struct kt_yaml *y = kt_yaml_load(raw, sizeof(raw) - 1, "t.yaml", err, sizeof(err));
	KT_CHECK(y == NULL);
	KT_CHECK_STR_EQ(err, "t.yaml:2:5: control characters are not allowed (byte 0x00)");
}

KT_TEST(error_output_is_one_bounded_line)
{
	char small[16];
	const char *s = "a: [";
	struct kt_yaml *y = kt_yaml_load(s, strlen(s), "dir/x.yaml", small, sizeof(small));
	KT_CHECK(y == NULL);
	KT_CHECK_STR_EQ(small, "dir/x.yaml:2:1:");
	/* No error buffer at all is fine. */
	y = kt_yaml_load(s, strlen(s), "x", NULL, 0);
	KT_CHECK(y == NULL);
	/* A file name or key with line breaks cannot split the message. */
	y = kt_yaml_load("a: 1\na: 2\n", 10, "we\nird", err, sizeof(err));
	KT_CHECK(y == NULL);
	KT_CHECK_STR_EQ(err, "we ird:2:1: duplicate key \"a\" (first defined at line 1, column 1)");
	KT_CHECK_STR_EQ(load_err("\"a\\nb\": 1\n\"a\\nb\": 2\n"),
			"t.yaml:2:1: duplicate key \"a b\" (first defined at line 1, column 1)");
	/* Long user text is cut. */
	KT_CHECK_STR_EQ(
	    load_err("a: *aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
	    "t.yaml:1:4: unknown alias *aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...");
}

KT_TEST(errorf_formats_node_positions)
{
	struct kt_yaml *y = load(manifest);
	KT_REQUIRE(y);
	const cJSON *p0 = cJSON_GetArrayItem(get(get(kt_yaml_doc(y, 0), "spec"), "ports"), 0);
	char out[128];
	KT_CHECK_INT_EQ(kt_yaml_errorf(y, get(p0, "port"), out, sizeof(out), "port %d is bad", 80),
			-EINVAL);
	KT_CHECK_STR_EQ(out, "t.yaml:9:11: port 80 is bad");
	kt_yaml_key_errorf(y, get(p0, "targetPort"), out, sizeof(out), "unknown key %s", "x");
	KT_CHECK_STR_EQ(out, "t.yaml:10:5: unknown key x");
	/* No key: falls back to the node's own position. */
	kt_yaml_key_errorf(y, p0, out, sizeof(out), "bad item");
	KT_CHECK_STR_EQ(out, "t.yaml:8:5: bad item");
	kt_yaml_errorf(y, NULL, out, sizeof(out), "missing %s", "kind");
	KT_CHECK_STR_EQ(out, "t.yaml: missing kind");
	kt_yaml_errorf(y, p0, out, sizeof(out), "two\nlines");
	KT_CHECK_STR_EQ(out, "t.yaml:8:5: two lines");
	kt_yaml_errorf(y, p0, out, 10, "truncated");
	KT_CHECK_STR_EQ(out, "t.yaml:8:");
	KT_CHECK_INT_EQ(kt_yaml_errorf(y, p0, NULL, 0, "x"), -EINVAL);
	kt_yaml_free(y);
	kt_yaml_free(NULL);
}

KT_TEST_MAIN()
