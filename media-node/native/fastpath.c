// Optional native part of the media node's fast path (media-node/src/transport/native-fastpath.ts
// loads it and falls back to TypeScript when it is absent). Two concerns, both per packet:
// - SRTP AES_CM_128_HMAC_SHA1_80 crypto in one call (AES-CTR through Node's own OpenSSL EVP,
//   HMAC-SHA1 from precomputed pad states); the ROC/replay state stays in TypeScript;
// - a queue of outgoing datagrams handed to the kernel with one sendmmsg(2) per socket per flush
//   instead of one dgram.send (a libuv request and a sendmsg each) per packet.
// Built by media-node/native/build.mjs with gcc against /usr/include/node (no download).
#define NAPI_VERSION 8
#define OPENSSL_SUPPRESS_DEPRECATED 1
#define _GNU_SOURCE
#include <node_api.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>

#define TAG_LENGTH 10

typedef struct {
  EVP_CIPHER_CTX *ctr;
  unsigned char salt[14];
  SHA_CTX inner; // state after (K ^ ipad)
  SHA_CTX outer; // state after (K ^ opad)
} SrtpKey;

static void key_finalize(napi_env env, void *data, void *hint) {
  (void)env; (void)hint;
  SrtpKey *k = data;
  if (k->ctr) EVP_CIPHER_CTX_free(k->ctr);
  free(k);
}

static int bytes_of(napi_env env, napi_value v, uint8_t **data, size_t *length) {
  napi_typedarray_type type;
  napi_value ab;
  size_t offset;
  void *p;
  if (napi_get_typedarray_info(env, v, &type, length, &p, &ab, &offset) != napi_ok || type != napi_uint8_array) {
    napi_throw_type_error(env, NULL, "expected a Buffer");
    return 0;
  }
  *data = p;
  return 1;
}

static napi_value num(napi_env env, double d) {
  napi_value r;
  napi_create_double(env, d, &r);
  return r;
}

static int32_t arg_i32(napi_env env, napi_value v) {
  int32_t r = 0;
  napi_get_value_int32(env, v, &r);
  return r;
}

// srtpKey(cipherKey[16], salt[14], authKey[20]) -> external
static napi_value srtp_key(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint8_t *ck, *salt, *ak;
  size_t ckl, sl, akl;
  if (argc < 3 || !bytes_of(env, argv[0], &ck, &ckl) || !bytes_of(env, argv[1], &salt, &sl) || !bytes_of(env, argv[2], &ak, &akl)) return NULL;
  if (ckl != 16 || sl < 14 || akl > 64) {
    napi_throw_range_error(env, NULL, "bad SRTP key sizes");
    return NULL;
  }
  SrtpKey *k = calloc(1, sizeof(SrtpKey));
  k->ctr = EVP_CIPHER_CTX_new();
  unsigned char iv[16] = {0};
  if (!k->ctr || EVP_EncryptInit_ex(k->ctr, EVP_aes_128_ctr(), NULL, ck, iv) != 1) {
    key_finalize(env, k, NULL);
    napi_throw_error(env, NULL, "EVP aes-128-ctr init failed");
    return NULL;
  }
  memcpy(k->salt, salt, 14);
  unsigned char ipad[64], opad[64];
  for (int i = 0; i < 64; i++) {
    unsigned char b = i < (int)akl ? ak[i] : 0;
    ipad[i] = b ^ 0x36;
    opad[i] = b ^ 0x5c;
  }
  SHA1_Init(&k->inner);
  SHA1_Update(&k->inner, ipad, 64);
  SHA1_Init(&k->outer);
  SHA1_Update(&k->outer, opad, 64);
  napi_value ext;
  napi_create_external(env, k, key_finalize, NULL, &ext);
  return ext;
}

static SrtpKey *key_of(napi_env env, napi_value v) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok) napi_throw_type_error(env, NULL, "expected an SRTP key");
  return p;
}

// HMAC-SHA1 of buf[0, length) followed by the big-endian ROC into out[20].
static void hmac(const SrtpKey *k, const uint8_t *buf, size_t length, uint32_t roc, unsigned char out[20]) {
  SHA_CTX c = k->inner;
  unsigned char r[4] = {roc >> 24, roc >> 16, roc >> 8, roc};
  SHA1_Update(&c, buf, length);
  SHA1_Update(&c, r, 4);
  SHA1_Final(out, &c);
  c = k->outer;
  SHA1_Update(&c, out, 20);
  SHA1_Final(out, &c);
}

// Keystream XOR of buf[start, end) for the packet (ssrc, roc, seq).
static int ctr(SrtpKey *k, uint8_t *buf, size_t start, size_t end, uint32_t ssrc, uint32_t roc, uint32_t seq) {
  if (end <= start) return 1;
  unsigned char iv[16];
  memcpy(iv, k->salt, 14);
  iv[14] = iv[15] = 0;
  iv[4] ^= ssrc >> 24; iv[5] ^= ssrc >> 16; iv[6] ^= ssrc >> 8; iv[7] ^= ssrc;
  iv[8] ^= roc >> 24; iv[9] ^= roc >> 16; iv[10] ^= roc >> 8; iv[11] ^= roc;
  iv[12] ^= seq >> 8; iv[13] ^= seq;
  int outl = 0;
  if (EVP_EncryptInit_ex(k->ctr, NULL, NULL, NULL, iv) != 1) return 0;
  return EVP_EncryptUpdate(k->ctr, buf + start, &outl, buf + start, (int)(end - start)) == 1;
}

// protectRtp(key, buf, headerLength, length, roc) -> length + 10 (tag written at buf[length]); buf needs 10 spare bytes.
static napi_value protect_rtp(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 5) return NULL;
  SrtpKey *k = key_of(env, argv[0]);
  uint8_t *buf;
  size_t cap;
  if (!k || !bytes_of(env, argv[1], &buf, &cap)) return NULL;
  int32_t header = arg_i32(env, argv[2]);
  int32_t length = arg_i32(env, argv[3]);
  uint32_t roc = (uint32_t)arg_i32(env, argv[4]);
  if (header < 12 || length < header || (size_t)length + TAG_LENGTH > cap) {
    napi_throw_range_error(env, NULL, "protectRtp: bad lengths");
    return NULL;
  }
  uint32_t ssrc = ((uint32_t)buf[8] << 24) | (buf[9] << 16) | (buf[10] << 8) | buf[11];
  uint32_t seq = (buf[2] << 8) | buf[3];
  if (!ctr(k, buf, header, length, ssrc, roc, seq)) return num(env, -1);
  unsigned char tag[20];
  hmac(k, buf, length, roc, tag);
  memcpy(buf + length, tag, TAG_LENGTH);
  return num(env, length + TAG_LENGTH);
}

// unprotectRtp(key, buf, headerLength, rtpLength, roc) -> true (authentic, payload decrypted in place) or false.
static napi_value unprotect_rtp(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 5) return NULL;
  SrtpKey *k = key_of(env, argv[0]);
  uint8_t *buf;
  size_t cap;
  if (!k || !bytes_of(env, argv[1], &buf, &cap)) return NULL;
  int32_t header = arg_i32(env, argv[2]);
  int32_t length = arg_i32(env, argv[3]);
  uint32_t roc = (uint32_t)arg_i32(env, argv[4]);
  napi_value r;
  if (header < 12 || length < header || (size_t)length + TAG_LENGTH > cap) {
    napi_get_boolean(env, false, &r);
    return r;
  }
  unsigned char tag[20];
  hmac(k, buf, length, roc, tag);
  unsigned char diff = 0;
  for (int i = 0; i < TAG_LENGTH; i++) diff |= tag[i] ^ buf[length + i];
  bool ok = diff == 0;
  if (ok) {
    uint32_t ssrc = ((uint32_t)buf[8] << 24) | (buf[9] << 16) | (buf[10] << 8) | buf[11];
    uint32_t seq = (buf[2] << 8) | buf[3];
    ok = ctr(k, buf, header, length, ssrc, roc, seq);
  }
  napi_get_boolean(env, ok, &r);
  return r;
}

// ---- send queue ----

#define QUEUE_MAX 1024

// One queue per Node environment (main thread, each worker thread), so threads never share one.
typedef struct {
  struct mmsghdr msgs[QUEUE_MAX];
  struct iovec iovs[QUEUE_MAX];
  struct sockaddr_storage addrs[QUEUE_MAX];
  int fds[QUEUE_MAX];
  int queued;
  double dropped;
} SendQueue;

static void queue_finalize(napi_env env, void *data, void *hint) {
  (void)env; (void)hint;
  free(data);
}

static SendQueue *queue_of(napi_env env) {
  void *q = NULL;
  napi_get_instance_data(env, &q);
  return q;
}

static void flush_queue(SendQueue *q) {
  int i = 0;
  while (i < q->queued) {
    int fd = q->fds[i];
    int n = 1;
    while (i + n < q->queued && q->fds[i + n] == fd) n++;
    int done = 0;
    if (fd < 0) { // discarded (its socket closed before the flush)
      q->dropped += n;
      done = n;
    }
    while (done < n) {
      int r = sendmmsg(fd, q->msgs + i + done, (unsigned)(n - done), 0);
      if (r > 0) done += r;
      else if (r < 0 && errno == EINTR) continue;
      else {
        // EAGAIN/ENOBUFS (socket buffer full) or an unreachable address: drop this one, go on.
        q->dropped++;
        done++;
      }
    }
    i += n;
  }
  q->queued = 0;
}

// queueSend(fd, buf, length, sockaddr) -> queued count (flushes first when full). The caller keeps
// `buf` alive and unchanged until the flush (fast-transport.ts holds it; the memory is a slab's).
static napi_value queue_send(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 4) return NULL;
  SendQueue *q = queue_of(env);
  int32_t fd = arg_i32(env, argv[0]);
  uint8_t *buf, *sa;
  size_t cap, salen;
  if (!q || !bytes_of(env, argv[1], &buf, &cap) || !bytes_of(env, argv[3], &sa, &salen)) return NULL;
  int32_t length = arg_i32(env, argv[2]);
  if (fd < 0 || length < 0 || (size_t)length > cap || salen > sizeof(struct sockaddr_storage) || salen < sizeof(struct sockaddr_in)) {
    napi_throw_range_error(env, NULL, "queueSend: bad arguments");
    return NULL;
  }
  if (q->queued == QUEUE_MAX) flush_queue(q);
  int k = q->queued;
  memcpy(&q->addrs[k], sa, salen);
  q->iovs[k].iov_base = buf;
  q->iovs[k].iov_len = (size_t)length;
  memset(&q->msgs[k], 0, sizeof(struct mmsghdr));
  q->msgs[k].msg_hdr.msg_name = &q->addrs[k];
  q->msgs[k].msg_hdr.msg_namelen = (socklen_t)salen;
  q->msgs[k].msg_hdr.msg_iov = &q->iovs[k];
  q->msgs[k].msg_hdr.msg_iovlen = 1;
  q->fds[k] = fd;
  q->queued = k + 1;
  return num(env, q->queued);
}

// discardSends(fd): what is queued for fd will not be sent (its socket closed since it was queued:
// the number may already belong to another descriptor).
static napi_value discard_sends(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  SendQueue *q = queue_of(env);
  if (argc < 1 || !q) return NULL;
  int32_t fd = arg_i32(env, argv[0]);
  for (int i = 0; i < q->queued; i++)
    if (q->fds[i] == fd) q->fds[i] = -1;
  return NULL;
}

// flushSends() -> datagrams dropped so far (cumulative).
static napi_value flush_sends(napi_env env, napi_callback_info info) {
  (void)info;
  SendQueue *q = queue_of(env);
  if (!q) return NULL;
  flush_queue(q);
  return num(env, q->dropped);
}

static napi_value init(napi_env env, napi_value exports) {
  SendQueue *q = calloc(1, sizeof(SendQueue));
  if (!q || napi_set_instance_data(env, q, queue_finalize, NULL) != napi_ok) {
    free(q);
    napi_throw_error(env, NULL, "fastpath: out of memory");
    return NULL;
  }
  napi_property_descriptor props[] = {
    {"srtpKey", NULL, srtp_key, NULL, NULL, NULL, napi_enumerable, NULL},
    {"protectRtp", NULL, protect_rtp, NULL, NULL, NULL, napi_enumerable, NULL},
    {"unprotectRtp", NULL, unprotect_rtp, NULL, NULL, NULL, napi_enumerable, NULL},
    {"queueSend", NULL, queue_send, NULL, NULL, NULL, napi_enumerable, NULL},
    {"flushSends", NULL, flush_sends, NULL, NULL, NULL, napi_enumerable, NULL},
    {"discardSends", NULL, discard_sends, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
