/* Headers the bindings are generated from, plus the C shim's prototypes. */
#include <stddef.h>
#include <rte_config.h>
#include <rte_version.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_log.h>
#include <rte_lcore.h>
#include <rte_cycles.h>
#include <rte_mempool.h>
#include <rte_mbuf.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_pdump.h>
#include <rte_telemetry.h>

/*
 * Offsets of the rte_mbuf fields the safe layer reads and writes in Rust.
 * The struct's anonymous unions move between DPDK releases (22.11 -> 24.11),
 * so field paths in bindgen's output are not stable; offsetof is, and clang
 * evaluates these while generating the bindings.
 */
enum vtep_mbuf_offsets {
	VTEP_MBUF_OFF_BUF_ADDR = offsetof(struct rte_mbuf, buf_addr),
	VTEP_MBUF_OFF_DATA_OFF = offsetof(struct rte_mbuf, data_off),
	VTEP_MBUF_OFF_REFCNT = offsetof(struct rte_mbuf, refcnt),
	VTEP_MBUF_OFF_NB_SEGS = offsetof(struct rte_mbuf, nb_segs),
	VTEP_MBUF_OFF_PORT = offsetof(struct rte_mbuf, port),
	VTEP_MBUF_OFF_OL_FLAGS = offsetof(struct rte_mbuf, ol_flags),
	VTEP_MBUF_OFF_PACKET_TYPE = offsetof(struct rte_mbuf, packet_type),
	VTEP_MBUF_OFF_PKT_LEN = offsetof(struct rte_mbuf, pkt_len),
	VTEP_MBUF_OFF_DATA_LEN = offsetof(struct rte_mbuf, data_len),
	VTEP_MBUF_OFF_BUF_LEN = offsetof(struct rte_mbuf, buf_len),
	VTEP_MBUF_OFF_NEXT = offsetof(struct rte_mbuf, next),
	VTEP_MBUF_OFF_POOL = offsetof(struct rte_mbuf, pool),
	VTEP_MBUF_OFF_HASH = offsetof(struct rte_mbuf, hash),
	VTEP_MBUF_OFF_TX_OFFLOAD = offsetof(struct rte_mbuf, tx_offload),
};

/*
 * Offload and RSS bits the port setup asks for. DPDK defines them with
 * RTE_BIT64(), which bindgen cannot evaluate; all used here are below bit 32.
 */
enum vtep_eth_bits {
	VTEP_RX_OFFLOAD_IPV4_CKSUM = RTE_ETH_RX_OFFLOAD_IPV4_CKSUM,
	VTEP_RX_OFFLOAD_UDP_CKSUM = RTE_ETH_RX_OFFLOAD_UDP_CKSUM,
	VTEP_RX_OFFLOAD_OUTER_UDP_CKSUM = RTE_ETH_RX_OFFLOAD_OUTER_UDP_CKSUM,
	VTEP_RX_OFFLOAD_SCATTER = RTE_ETH_RX_OFFLOAD_SCATTER,
	VTEP_RX_OFFLOAD_RSS_HASH = RTE_ETH_RX_OFFLOAD_RSS_HASH,
	VTEP_TX_OFFLOAD_IPV4_CKSUM = RTE_ETH_TX_OFFLOAD_IPV4_CKSUM,
	VTEP_TX_OFFLOAD_UDP_CKSUM = RTE_ETH_TX_OFFLOAD_UDP_CKSUM,
	VTEP_TX_OFFLOAD_OUTER_UDP_CKSUM = RTE_ETH_TX_OFFLOAD_OUTER_UDP_CKSUM,
	VTEP_TX_OFFLOAD_MULTI_SEGS = RTE_ETH_TX_OFFLOAD_MULTI_SEGS,
	VTEP_TX_OFFLOAD_MBUF_FAST_FREE = RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE,
	VTEP_RSS_IP = RTE_ETH_RSS_IP,
	VTEP_RSS_UDP = RTE_ETH_RSS_UDP,
	VTEP_RSS_TCP = RTE_ETH_RSS_TCP,
};

/* Shim: DPDK's static inline functions and thread-local errno, as symbols. */
int vtep_errno(void);
unsigned vtep_lcore_id(void);
uint64_t vtep_rdtsc(void);
uint16_t vtep_eth_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);
uint16_t vtep_eth_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);
struct rte_mbuf *vtep_pktmbuf_alloc(struct rte_mempool *mp);
int vtep_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs, unsigned n);
void vtep_pktmbuf_free(struct rte_mbuf *m);
void vtep_mbuf_refcnt_update(struct rte_mbuf *m, int16_t v);
struct rte_mbuf *vtep_pktmbuf_clone(struct rte_mbuf *m, struct rte_mempool *mp);
int vtep_pktmbuf_chain(struct rte_mbuf *head, struct rte_mbuf *tail);
unsigned vtep_mempool_cache_len(struct rte_mempool *mp, unsigned lcore);
unsigned vtep_mempool_ring_count(const struct rte_mempool *mp);
uint16_t vtep_mbuf_default_headroom(void);
int vtep_eth_link(uint16_t port, uint32_t *speed_mbps, int *up);
typedef long (*vtep_log_write)(void *cookie, const char *buf, size_t size);
FILE *vtep_log_stream(vtep_log_write write);
int vtep_tel_register(const char *cmd, telemetry_cb fn, const char *help);
void vtep_tel_start_dict(struct rte_tel_data *d);
int vtep_tel_dict_u64(struct rte_tel_data *d, const char *name, uint64_t v);
int vtep_tel_dict_str(struct rte_tel_data *d, const char *name, const char *v);
