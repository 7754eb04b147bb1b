/* test_selector.c: unit tests for tools/fake-cluster/selector.c (label and field selectors). */
#include "kt_test.h"
#include "selector.h"

#include <stdbool.h>

static char err[512];

/* Parses s and returns its canonical string (static buffer), or "ERR: <message>". */
static const char *canon(const char *s)
{
	static char out[1024];
	struct fc_selector *sel = fc_selector_parse(s, err, sizeof(err));
	if (!sel) {
		snprintf(out, sizeof(out), "ERR: %s", err);
		return out;
	}
	char *str = fc_selector_string(sel);
	snprintf(out, sizeof(out), "%s", str ? str : "(oom)");
	free(str);
	fc_selector_free(sel);
	return out;
}

/* 1 match, 0 no match, -1 parse error. */
static int match(const char *selector, const char *labels_json)
{
	struct fc_selector *sel = fc_selector_parse(selector, err, sizeof(err));
	if (!sel)
		return -1;
	cJSON *labels = labels_json ? cJSON_Parse(labels_json) : NULL;
	int m = fc_selector_matches(sel, labels);
	cJSON_Delete(labels);
	fc_selector_free(sel);
	return m;
}

KT_TEST(parse_canonical_form)
{
	static const char *const cases[][2] = {
	    {"", ""},
	    {"app=web", "app=web"},
	    {"app==web", "app==web"},
	    {"a!=b", "a!=b"},
	    {"key", "key"},
	    {"!key", "!key"},
	    {"env notin (dev)", "env notin (dev)"},
	    {" app = web , tier in ( b , a , a ) ", "app=web,tier in (a,b)"},
	    {"tier in(a,b)", "tier in (a,b)"},
	    {"\tx\n,\r!y", "x,!y"},
	    /* Sorted by key, stable for equal keys. */
	    {"b=1,a=2,a", "a=2,a,b=1"},
	    {"z,!y,x in (q),w notin (p)", "w notin (p),x in (q),!y,z"},
	    /* Empty values. */
	    {"k=", "k="},
	    {"k=,j", "j,k="},
	    {"k in ()", "k in ()"},
	    {"k in (a,)", "k in (,a)"},
	    {"k in (,a)", "k in (,a)"},
	    {"k in (a,,b)", "k in (,a,b)"},
	    /* "in" and "notin" are identifiers where a key or value is expected. */
	    {"in in (in)", "in in (in)"},
	    {"notin=in", "notin=in"},
	    {"x notin (notin,in)", "x notin (in,notin)"},
	    /* Numeric comparisons. */
	    {"x>5", "x>5"},
	    {"x < 10", "x<10"},
	    /* Qualified keys, DNS prefixes. */
	    {"kubernetes.io/service-name=web", "kubernetes.io/service-name=web"},
	    {"app.kubernetes.io/name in (a.b_c-d)", "app.kubernetes.io/name in (a.b_c-d)"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *got = canon(cases[i][0]);
		if (strcmp(got, cases[i][1]) != 0)
			KT_FAIL_("parse [%s]: got [%s], want [%s]", cases[i][0], got, cases[i][1]);
	}
}

KT_TEST(parse_errors)
{
	static const char *const cases[][2] = {
	    {"a=b,", "found '', expected: identifier after ','"},
	    {",a", "found ',', expected: !, identifier, or 'end of string'"},
	    {"=x", "found '=', expected: !, identifier, or 'end of string'"},
	    {"!k=v", "found '=', expected: ',' or 'end of string'"},
	    {"k=v w", "found 'w', expected: ',' or 'end of string'"},
	    {"k=a=b", "found '=', expected: ',' or 'end of string'"},
	    {"k in a", "unable to parse requirement: found 'a' expected: '('"},
	    {"k in (a b)", "unable to parse requirement: found 'b', expected: ',' or ')'"},
	    {"k in (a", "unable to parse requirement: found '', expected: ',' or ')'"},
	    {"k in (=)",
	     "unable to parse requirement: found '=', expected: ',', ')' or identifier"},
	    {"kin (a)",
	     "unable to parse requirement: found '(', expected: in, notin, =, ==, !=, gt, lt"},
	    {"k!",
	     "unable to parse requirement: found '!', expected: in, notin, =, ==, !=, gt, lt"},
	    {"k=(", "unable to parse requirement: found '(', expected: identifier"},
	    {"!!k", "unable to parse requirement: found '!', expected: identifier"},
	    {"x>a", "unable to parse requirement: for 'Gt', 'Lt' operators, the value must be an "
		    "integer"},
	    {"x>99999999999999999999", "unable to parse requirement: for 'Gt', 'Lt' operators, "
				       "the value must be an integer"},
	    {"x<-1",
	     "unable to parse requirement: invalid label value \"-1\" for key \"x\": a valid "
	     "label must be an empty string or consist of alphanumeric characters, '-', '_' "
	     "or '.', and must start and end with an alphanumeric character"},
	    {"k=v@",
	     "unable to parse requirement: invalid label value \"v@\" for key \"k\": a valid "
	     "label must be an empty string or consist of alphanumeric characters, '-', '_' "
	     "or '.', and must start and end with an alphanumeric character"},
	    {"k~v",
	     "unable to parse requirement: invalid label key \"k~v\": name part must consist "
	     "of alphanumeric characters, '-', '_' or '.', and must start and end with an "
	     "alphanumeric character"},
	    {"/c=d", "unable to parse requirement: invalid label key \"/c\": prefix part must be "
		     "non-empty"},
	    {"a/=d", "unable to parse requirement: invalid label key \"a/\": name part must be "
		     "non-empty"},
	    {"A.b/c=d", "unable to parse requirement: invalid label key \"A.b/c\": prefix part a "
			"lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
			"characters, '-' or '.', and must start and end with an alphanumeric "
			"character"},
	    {"a..b/c", "unable to parse requirement: invalid label key \"a..b/c\": prefix part a "
		       "lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
		       "characters, '-' or '.', and must start and end with an alphanumeric "
		       "character"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fc_selector *sel = fc_selector_parse(cases[i][0], err, sizeof(err));
		KT_CHECK(sel == NULL);
		fc_selector_free(sel);
		if (strcmp(err, cases[i][1]) != 0)
			KT_FAIL_("parse [%s]: got error [%s], want [%s]", cases[i][0], err,
				 cases[i][1]);
	}
	/* Length limits on key and value parts. */
	KT_CHECK(strstr(canon("a/b/c"), "a qualified name must consist of"));
	char key[80];
	memset(key, 'k', 64);
	key[64] = '\0';
	KT_CHECK(strstr(canon(key), "name part must be no more than 63 characters"));
	key[63] = '\0';
	KT_CHECK_STR_EQ(canon(key), key);
	char kv[80];
	memset(kv, 'v', sizeof(kv));
	memcpy(kv, "k=", 2);
	kv[2 + 64] = '\0';
	KT_CHECK(strstr(canon(kv), "must be no more than 63 characters"));
	kv[2 + 63] = '\0';
	KT_CHECK_STR_EQ(canon(kv), kv);
	char prefix[300];
	memset(prefix, 'p', 254);
	memcpy(prefix + 254, "/n", 3);
	KT_CHECK(strstr(canon(prefix), "prefix part must be no more than 253 characters"));
	memmove(prefix + 253, prefix + 254, 3);
	KT_CHECK_STR_EQ(canon(prefix), prefix);
}

KT_TEST(error_messages_stay_on_one_line_and_bounded)
{
	KT_CHECK_STR_EQ(canon("k=v\nw"), "ERR: found 'w', expected: ',' or 'end of string'");
	KT_CHECK_STR_EQ(
	    canon("k=\001"),
	    "ERR: unable to parse requirement: invalid label value \" \" for key \"k\": "
	    "a valid label must be an empty string or consist of alphanumeric "
	    "characters, '-', '_' or '.', and must start and end with an alphanumeric "
	    "character");
	char big[FC_SELECTOR_MAX_LEN + 2];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	KT_CHECK_STR_EQ(canon(big), "ERR: label selector longer than 65536 bytes");
	big[FC_SELECTOR_MAX_LEN] = '\0';
	const char *got = canon(big); /* a 65536-byte key: too long, reported cut short */
	KT_CHECK(strstr(got, "aaaaaaaa...\": name part must be no more than 63") != NULL);
	/* A tiny error buffer is truncated, never overrun. */
	char small[8];
	KT_CHECK(fc_selector_parse("=", small, sizeof(small)) == NULL);
	KT_CHECK_STR_EQ(small, "found '");
}

KT_TEST(matching_rules)
{
	const char *labels = "{\"app\":\"web\",\"tier\":\"frontend\",\"n\":\"7\",\"e\":\"\"}";
	KT_CHECK_INT_EQ(match("", labels), 1);
	KT_CHECK_INT_EQ(match("", NULL), 1);
	KT_CHECK_INT_EQ(match("app=web", labels), 1);
	KT_CHECK_INT_EQ(match("app==web", labels), 1);
	KT_CHECK_INT_EQ(match("app=db", labels), 0);
	KT_CHECK_INT_EQ(match("app=web,tier=backend", labels), 0);
	KT_CHECK_INT_EQ(match("app!=db", labels), 1);
	KT_CHECK_INT_EQ(match("app!=web", labels), 0);
	/* != and notin match when the key is absent; = and in do not. */
	KT_CHECK_INT_EQ(match("missing!=x", labels), 1);
	KT_CHECK_INT_EQ(match("missing notin (x)", labels), 1);
	KT_CHECK_INT_EQ(match("missing=x", labels), 0);
	KT_CHECK_INT_EQ(match("missing in (x)", labels), 0);
	KT_CHECK_INT_EQ(match("tier in (backend,frontend)", labels), 1);
	KT_CHECK_INT_EQ(match("tier notin (backend,frontend)", labels), 0);
	KT_CHECK_INT_EQ(match("tier notin (backend)", labels), 1);
	KT_CHECK_INT_EQ(match("app", labels), 1);
	KT_CHECK_INT_EQ(match("missing", labels), 0);
	KT_CHECK_INT_EQ(match("!missing", labels), 1);
	KT_CHECK_INT_EQ(match("!app", labels), 0);
	/* The empty value is a value: it matches a label set to "" but not an absent one. */
	KT_CHECK_INT_EQ(match("e=", labels), 1);
	KT_CHECK_INT_EQ(match("e in ()", labels), 1);
	KT_CHECK_INT_EQ(match("missing=", labels), 0);
	KT_CHECK_INT_EQ(match("app=", labels), 0);
	/* Numeric comparisons need the label to be an integer. */
	KT_CHECK_INT_EQ(match("n>5", labels), 1);
	KT_CHECK_INT_EQ(match("n>7", labels), 0);
	KT_CHECK_INT_EQ(match("n<8", labels), 1);
	KT_CHECK_INT_EQ(match("app>1", labels), 0);
	KT_CHECK_INT_EQ(match("missing<1", labels), 0);
	/* Keys are case-sensitive. */
	KT_CHECK_INT_EQ(match("App=web", labels), 0);
	/* No labels at all, and labels that are not a string map. */
	KT_CHECK_INT_EQ(match("app=web", NULL), 0);
	KT_CHECK_INT_EQ(match("!app", NULL), 1);
	KT_CHECK_INT_EQ(match("app!=web", "[1,2]"), 1);
	KT_CHECK_INT_EQ(match("app", "{\"app\":1}"), 0);
	KT_CHECK_INT_EQ(match("!app", "{\"app\":null}"), 1);
	KT_CHECK(!fc_selector_matches(NULL, NULL));
}

static char *ls_string(const char *json)
{
	cJSON *ls = json ? cJSON_Parse(json) : NULL;
	char *s = fc_selector_label_selector_string(ls, err, sizeof(err));
	cJSON_Delete(ls);
	return s;
}

static void check_ls(const char *json, const char *want)
{
	char *got = ls_string(json);
	if (!got || strcmp(got, want) != 0)
		KT_FAIL_("%s: got [%s] (err [%s]), want [%s]", json, got ? got : "NULL", err, want);
	free(got);
}

static void check_ls_err(const char *json, const char *want)
{
	char *got = ls_string(json);
	if (got || strcmp(err, want) != 0)
		KT_FAIL_("%s: got [%s] err [%s], want error [%s]", json, got ? got : "NULL", err,
			 want);
	free(got);
}

KT_TEST(label_selector_to_query_string)
{
	check_ls("{\"matchLabels\":{\"tier\":\"web\",\"app\":\"shop\"}}", "app=shop,tier=web");
	check_ls("{\"matchLabels\":{\"app\":\"web\"},\"matchExpressions\":["
		 "{\"key\":\"env\",\"operator\":\"NotIn\",\"values\":[\"prod\",\"dev\"]},"
		 "{\"key\":\"track\",\"operator\":\"In\",\"values\":[\"b\",\"a\",\"b\"]},"
		 "{\"key\":\"canary\",\"operator\":\"DoesNotExist\"},"
		 "{\"key\":\"zone\",\"operator\":\"Exists\",\"values\":null}]}",
		 "app=web,!canary,env notin (dev,prod),track in (a,b,b),zone");
	/* Same key in matchLabels and an expression: matchLabels first. */
	check_ls("{\"matchExpressions\":[{\"key\":\"app\",\"operator\":\"Exists\"}],"
		 "\"matchLabels\":{\"app\":\"web\"}}",
		 "app=web,app");
	check_ls("{}", "");
	check_ls("{\"matchLabels\":null,\"matchExpressions\":[]}", "");
	/* A nil selector matches nothing and has no text. */
	check_ls("null", "");
	check_ls(NULL, "");

	check_ls_err(
	    "{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"Gt\",\"values\":[\"1\"]}]}",
	    "\"Gt\" is not a valid label selector operator");
	check_ls_err(
	    "{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"in\",\"values\":[\"1\"]}]}",
	    "\"in\" is not a valid label selector operator");
	check_ls_err("{\"matchExpressions\":[{\"key\":\"a\"}]}",
		     "\"\" is not a valid label selector operator");
	check_ls_err("{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"In\",\"values\":[]}]}",
		     "for 'in', 'notin' operators, values set can't be empty");
	check_ls_err("{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"NotIn\"}]}",
		     "for 'in', 'notin' operators, values set can't be empty");
	check_ls_err(
	    "{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"Exists\",\"values\":[\"x\"]}]}",
	    "values set must be empty for exists and does not exist");
	check_ls_err("{\"matchExpressions\":[{\"operator\":\"Exists\"}]}",
		     "invalid label key \"\": name part must be non-empty");
	check_ls_err(
	    "{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"In\",\"values\":[\"x y\"]}]}",
	    "invalid label value \"x y\" for key \"a\": a valid label must be an empty "
	    "string or consist of alphanumeric characters, '-', '_' or '.', and must start "
	    "and end with an alphanumeric character");
	check_ls_err("{\"matchLabels\":{\"a\":1}}", "value of label \"a\" must be a string");
	check_ls_err("{\"matchLabels\":[]}", "matchLabels must be a map");
	check_ls_err("{\"matchExpressions\":{}}", "matchExpressions must be a list");
	check_ls_err("{\"matchExpressions\":[1]}", "matchExpressions[0] must be an object");
	check_ls_err("{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"In\",\"values\":[1]}]}",
		     "matchExpressions[0].values must hold strings");
	check_ls_err(
	    "{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"In\",\"values\":\"x\"}]}",
	    "matchExpressions[0].values must be a list");
	check_ls_err("{\"matchExpressions\":[{\"key\":5,\"operator\":\"Exists\"}]}",
		     "matchExpressions[0].key must be a string");
	check_ls_err("[]", "label selector must be an object");
}

KT_TEST(label_selector_matching)
{
	cJSON *ls = cJSON_Parse("{\"matchLabels\":{\"app\":\"web\"},\"matchExpressions\":["
				"{\"key\":\"env\",\"operator\":\"NotIn\",\"values\":[\"dev\"]}]}");
	struct fc_selector *sel = fc_selector_from_label_selector(ls, err, sizeof(err));
	KT_REQUIRE(sel);
	cJSON *a = cJSON_Parse("{\"app\":\"web\",\"env\":\"prod\"}");
	cJSON *b = cJSON_Parse("{\"app\":\"web\",\"env\":\"dev\"}");
	cJSON *c = cJSON_Parse("{\"app\":\"web\"}");
	KT_CHECK(fc_selector_matches(sel, a));
	KT_CHECK(!fc_selector_matches(sel, b));
	KT_CHECK(fc_selector_matches(sel, c));
	KT_CHECK(!fc_selector_is_empty(sel));
	KT_CHECK(!fc_selector_is_nothing(sel));
	fc_selector_free(sel);

	/* nil: nothing matches; {}: everything matches. */
	sel = fc_selector_from_label_selector(NULL, err, sizeof(err));
	KT_REQUIRE(sel);
	KT_CHECK(fc_selector_is_nothing(sel));
	KT_CHECK(!fc_selector_is_empty(sel));
	KT_CHECK(!fc_selector_matches(sel, a));
	KT_CHECK(!fc_selector_matches(sel, NULL));
	fc_selector_free(sel);
	cJSON *empty = cJSON_CreateObject();
	sel = fc_selector_from_label_selector(empty, err, sizeof(err));
	KT_REQUIRE(sel);
	KT_CHECK(fc_selector_is_empty(sel));
	KT_CHECK(fc_selector_matches(sel, a));
	KT_CHECK(fc_selector_matches(sel, NULL));
	fc_selector_free(sel);
	cJSON_Delete(empty);
	cJSON_Delete(ls);
	cJSON_Delete(a);
	cJSON_Delete(b);
	cJSON_Delete(c);
}

KT_TEST(service_selector_map)
{
	cJSON *m = cJSON_Parse("{\"tier\":\"frontend\",\"app\":\"web\"}");
	struct fc_selector *sel = fc_selector_from_map(m, err, sizeof(err));
	KT_REQUIRE(sel);
	char *s = fc_selector_string(sel);
	KT_CHECK_STR_EQ(s, "app=web,tier=frontend");
	free(s);
	cJSON *pod =
	    cJSON_Parse("{\"app\":\"web\",\"tier\":\"frontend\",\"pod-template-hash\":\"x\"}");
	cJSON *other = cJSON_Parse("{\"app\":\"web\"}");
	KT_CHECK(fc_selector_matches(sel, pod));
	KT_CHECK(!fc_selector_matches(sel, other));
	fc_selector_free(sel);
	cJSON_Delete(m);

	sel = fc_selector_from_map(NULL, err, sizeof(err));
	KT_REQUIRE(sel);
	KT_CHECK(fc_selector_is_empty(sel));
	KT_CHECK(fc_selector_matches(sel, other));
	fc_selector_free(sel);

	m = cJSON_Parse("{\"app\":[\"web\"]}");
	KT_CHECK(fc_selector_from_map(m, err, sizeof(err)) == NULL);
	KT_CHECK_STR_EQ(err, "value of label \"app\" must be a string");
	cJSON_Delete(m);
	m = cJSON_Parse("{\"bad key\":\"x\"}");
	KT_CHECK(fc_selector_from_map(m, err, sizeof(err)) == NULL);
	KT_CHECK(strncmp(err, "invalid label key \"bad key\"", 27) == 0);
	cJSON_Delete(m);
	m = cJSON_Parse("\"app=web\"");
	KT_CHECK(fc_selector_from_map(m, err, sizeof(err)) == NULL);
	KT_CHECK_STR_EQ(err, "selector must be a map of label keys to values");
	cJSON_Delete(m);
	cJSON_Delete(pod);
	cJSON_Delete(other);
}

/* Field selectors. 1 match, 0 no match, -1 parse error (err set). */
static int fmatch(const char *fsel, const char *obj_json)
{
	struct fc_selector_fields *fs = fc_selector_fields_parse(fsel, err, sizeof(err));
	if (!fs)
		return -1;
	cJSON *obj = cJSON_Parse(obj_json);
	int m = fc_selector_fields_matches(fs, obj);
	cJSON_Delete(obj);
	fc_selector_fields_free(fs);
	return m;
}

KT_TEST(field_selectors)
{
	const char *pod = "{\"metadata\":{\"name\":\"web-0\",\"namespace\":\"shop\"}}";
	KT_CHECK_INT_EQ(fmatch("", pod), 1);
	KT_CHECK_INT_EQ(fmatch(",", pod), 1);
	KT_CHECK_INT_EQ(fmatch("metadata.name=web-0", pod), 1);
	KT_CHECK_INT_EQ(fmatch("metadata.name==web-0", pod), 1);
	KT_CHECK_INT_EQ(fmatch("metadata.name=web-1", pod), 0);
	KT_CHECK_INT_EQ(fmatch("metadata.name!=web-1", pod), 1);
	KT_CHECK_INT_EQ(fmatch("metadata.name!=web-0", pod), 0);
	KT_CHECK_INT_EQ(fmatch("metadata.namespace=shop,metadata.name=web-0", pod), 1);
	KT_CHECK_INT_EQ(fmatch("metadata.namespace=shop,metadata.name=x", pod), 0);
	KT_CHECK_INT_EQ(fmatch("metadata.namespace=", "{\"metadata\":{\"name\":\"n\"}}"), 1);
	KT_CHECK_INT_EQ(fmatch("metadata.name=", "{}"), 1);
	KT_CHECK_INT_EQ(fmatch("metadata.name=x", "{}"), 0);
	/* Escapes: \, \= and \\ are data. */
	KT_CHECK_INT_EQ(
	    fmatch("metadata.name=a\\,b\\=c\\\\d", "{\"metadata\":{\"name\":\"a,b=c\\\\d\"}}"), 1);
	KT_CHECK_INT_EQ(fmatch("metadata.name=a\\,b,metadata.namespace=s",
			       "{\"metadata\":{\"name\":\"a,b\",\"namespace\":\"s\"}}"),
			1);

	KT_CHECK_INT_EQ(fmatch("spec.nodeName=n1", pod), -1);
	KT_CHECK_STR_EQ(err, "field label not supported: spec.nodeName");
	KT_CHECK_INT_EQ(fmatch("metadata.name =x", pod), -1);
	KT_CHECK_STR_EQ(err, "field label not supported: metadata.name ");
	KT_CHECK_INT_EQ(fmatch("metadata.name", pod), -1);
	KT_CHECK_STR_EQ(err, "invalid selector: 'metadata.name'; can't understand 'metadata.name'");
	KT_CHECK_INT_EQ(fmatch("metadata.name=a,x", pod), -1);
	KT_CHECK_STR_EQ(err, "invalid selector: 'metadata.name=a,x'; can't understand 'x'");
	KT_CHECK_INT_EQ(fmatch("metadata.name=a=b", pod), -1);
	KT_CHECK_STR_EQ(err, "invalid field selector: unescaped character in value: =");
	KT_CHECK_INT_EQ(fmatch("metadata.name=a\\x", pod), -1);
	KT_CHECK_STR_EQ(err, "invalid field selector: invalid escape sequence: \\x");
	KT_CHECK_INT_EQ(fmatch("metadata.name=a\\", pod), -1);
	KT_CHECK_STR_EQ(err, "invalid field selector: invalid escape sequence: \\");
	KT_CHECK_INT_EQ(fmatch("metadata.name=a\nb,c", pod), -1);
	KT_CHECK_STR_EQ(err, "invalid selector: 'metadata.name=a b,c'; can't understand 'c'");

	struct fc_selector_fields *fs =
	    fc_selector_fields_parse("metadata.namespace!=x,metadata.name=web-0", err, sizeof(err));
	KT_REQUIRE(fs);
	KT_CHECK_STR_EQ(fc_selector_fields_exact(fs, "metadata.name"), "web-0");
	KT_CHECK(fc_selector_fields_exact(fs, "metadata.namespace") == NULL);
	KT_CHECK(fc_selector_fields_exact(fs, "spec.x") == NULL);
	fc_selector_fields_free(fs);
	fc_selector_fields_free(NULL);
	fc_selector_free(NULL);
}

KT_TEST_MAIN()
