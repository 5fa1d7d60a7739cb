/* Out-of-line copies of DPDK static inline functions used from Rust. */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include "wrapper.h"

int vtep_errno(void) { return rte_errno; }
unsigned vtep_lcore_id(void) { return rte_lcore_id(); }
uint64_t vtep_rdtsc(void) { return rte_rdtsc(); }

uint16_t vtep_eth_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n)
{
	return rte_eth_rx_burst(port, queue, pkts, n);
}

uint16_t vtep_eth_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n)
{
	return rte_eth_tx_burst(port, queue, pkts, n);
}

struct rte_mbuf *vtep_pktmbuf_alloc(struct rte_mempool *mp) { return rte_pktmbuf_alloc(mp); }

int vtep_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs, unsigned n)
{
	return rte_pktmbuf_alloc_bulk(mp, mbufs, n);
}

void vtep_pktmbuf_free(struct rte_mbuf *m) { rte_pktmbuf_free(m); }

void vtep_mbuf_refcnt_update(struct rte_mbuf *m, int16_t v) { rte_mbuf_refcnt_update(m, v); }

struct rte_mbuf *vtep_pktmbuf_clone(struct rte_mbuf *m, struct rte_mempool *mp)
{
	return rte_pktmbuf_clone(m, mp);
}

int vtep_pktmbuf_chain(struct rte_mbuf *head, struct rte_mbuf *tail)
{
	return rte_pktmbuf_chain(head, tail);
}

unsigned vtep_mempool_cache_len(struct rte_mempool *mp, unsigned lcore)
{
	struct rte_mempool_cache *c = rte_mempool_default_cache(mp, lcore);
	return c == NULL ? 0 : c->len;
}

unsigned vtep_mempool_ring_count(const struct rte_mempool *mp)
{
	/* rte_mempool_ops_get_count is internal: subtract the caches instead. */
	unsigned n = rte_mempool_avail_count(mp);
	unsigned l;

	if (mp->cache_size == 0)
		return n;
	for (l = 0; l < RTE_MAX_LCORE; l++)
		n -= mp->local_cache[l].len;
	return n;
}

uint16_t vtep_mbuf_default_headroom(void) { return RTE_PKTMBUF_HEADROOM; }

/* rte_eth_link turned into a union in 24.x; read it here, version-neutral. */
int vtep_eth_link(uint16_t port, uint32_t *speed_mbps, int *up)
{
	struct rte_eth_link l;
	int r;

	memset(&l, 0, sizeof(l));
	r = rte_eth_link_get_nowait(port, &l);
	*speed_mbps = l.link_speed;
	*up = l.link_status;
	return r;
}

/* Telemetry: the u64 adders were renamed "uint" in 23.03 and the old
 * names dropped later; pick by version. */
int vtep_tel_register(const char *cmd, telemetry_cb fn, const char *help)
{
	return rte_telemetry_register_cmd(cmd, fn, help);
}

void vtep_tel_start_dict(struct rte_tel_data *d) { rte_tel_data_start_dict(d); }

int vtep_tel_dict_u64(struct rte_tel_data *d, const char *name, uint64_t v)
{
#if RTE_VERSION >= RTE_VERSION_NUM(23, 3, 0, 0)
	return rte_tel_data_add_dict_uint(d, name, v);
#else
	return rte_tel_data_add_dict_u64(d, name, v);
#endif
}

int vtep_tel_dict_str(struct rte_tel_data *d, const char *name, const char *v)
{
	return rte_tel_data_add_dict_string(d, name, v);
}

/* A stdio stream whose writes go to `write` (glibc's fopencookie, which the
 * libc crate does not bind), for rte_openlog_stream. */
FILE *vtep_log_stream(vtep_log_write write)
{
	cookie_io_functions_t io = { .read = NULL, .write = write, .seek = NULL, .close = NULL };
	return fopencookie(NULL, "w", io);
}
