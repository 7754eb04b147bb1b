/* fuzz_kubeconfig.c: the kubeconfig loader and the ExecCredential parser on arbitrary input.
 *
 * The input is parsed as a kubeconfig (current-context, then the context "x" when the first
 * parse fails), without file I/O so paths in the input are never opened, and as an exec
 * plugin's stdout for both exec API versions. Properties: no crash, no leak; every error is
 * one non-empty line; a loaded config is consistent (https server with a host and a port,
 * a non-empty namespace, a client certificate only together with its key, a known exec
 * apiVersion). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "execcred.h"
#include "kubeconfig.h"

static void check(int cond)
{
	if (!cond)
		abort();
}

static void check_err(const char *err)
{
	check(err[0] != '\0');
	check(strchr(err, '\n') == NULL);
}

static void check_config(const struct kt_kubeconfig *kc)
{
	check(kc->context_name && kc->cluster_name && kc->user_name);
	check(kc->namespace && kc->namespace[0]);
	check(kc->server.host && kc->server.host[0] && kc->server.port > 0);
	check(kc->server.path_prefix != NULL);
	check(!kc->client_cert_pem == !kc->client_key_pem);
	check(!(kc->insecure_skip_tls_verify && kc->ca_pem));
	check(kc->nfiles == 1);
	if (kc->exec) {
		check(strcmp(kc->exec->api_version, KT_KUBECONFIG_EXEC_V1) == 0 ||
		      strcmp(kc->exec->api_version, KT_KUBECONFIG_EXEC_V1BETA1) == 0);
		check(kc->exec->command && kc->exec->command[0]);
		char *info = kt_execcred_exec_info(kc);
		check(info != NULL);
		free(info);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 1 << 16)
		return 0;
	char err[512];
	unsigned flags = KT_KUBECONFIG_NO_FILE_IO;
	struct kt_kubeconfig *kc =
	    kt_kubeconfig_parse(data, size, "/fuzz/config", NULL, flags, err, sizeof(err));
	if (!kc) {
		check_err(err);
		kc = kt_kubeconfig_parse(data, size, "/fuzz/config", "x", flags, err, sizeof(err));
	}
	if (kc)
		check_config(kc);
	else
		check_err(err);
	kt_kubeconfig_free(kc);

	static const char *const versions[] = {KT_KUBECONFIG_EXEC_V1, KT_KUBECONFIG_EXEC_V1BETA1};
	for (int i = 0; i < 2; i++) {
		struct kt_execcred_cred c;
		if (kt_execcred_parse(versions[i], data, size, &c, err, sizeof(err)) == 0) {
			check(c.token || (c.client_cert_pem && c.client_key_pem));
			check(!c.client_cert_pem == !c.client_key_pem);
			kt_execcred_cred_fini(&c);
		} else {
			check_err(err);
		}
	}
	/* The timestamp parser on the input as a C string. */
	char ts[64];
	size_t n = size < sizeof(ts) - 1 ? size : sizeof(ts) - 1;
	memcpy(ts, data, n);
	ts[n] = '\0';
	time_t t;
	(void)kt_execcred_parse_time(ts, &t);
	return 0;
}
