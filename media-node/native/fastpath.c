// Optional native part of the media node's fast path (media-node/src/transport/native-fastpath.ts
// loads it and falls back to TypeScript when it is absent). Two concerns, both per packet:
// - SRTP AES_CM_128_HMAC_SHA1_80 crypto in one call (AES-CTR through Node's own OpenSSL EVP,
//   HMAC-SHA1 from precomputed pad states); the ROC/replay state stays in TypeScript;
// - a queue of outgoing datagrams handed to the kernel with one sendmmsg(2) per socket per flush
//   instead of one dgram.send (a libuv request and a sendmsg each) per packet;
// - sendRtpRows: a fan-out's packets described by rows of an Int32Array (one per subscriber: the
//   rewritten header fields, the ROC, the destination) and built here in one call per batch:
//   header written, payload copied, VP8 picture id set, SRTP, sendmmsg. One N-API crossing per
//   batch instead of three JS-built steps and two crossings per subscriber.
// Built by media-node/native/build.mjs with gcc against /usr/include/node (no download).
#define NAPI_VERSION 8
#define OPENSSL_SUPPRESS_DEPRECATED 1
#define _GNU_SOURCE
#include <node_api.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <stdbool.h>
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
  struct RowQueue *rows; // sendRtpRows' own queue and arena, made at its first call
} SendQueue;

static void queue_finalize(napi_env env, void *data, void *hint) {
  (void)env; (void)hint;
  SendQueue *q = data;
  free(q->rows);
  free(q);
}

static SendQueue *queue_of(napi_env env) {
  void *q = NULL;
  napi_get_instance_data(env, &q);
  return q;
}

// Sends `queued` messages, one sendmmsg per run of the same descriptor; returns how many were
// dropped. Both queues (queueSend's and sendRtpRows') flush through it.
static double send_runs(const int *fds, struct mmsghdr *msgs, int queued) {
  double dropped = 0;
  int i = 0;
  while (i < queued) {
    int fd = fds[i];
    int n = 1;
    while (i + n < queued && fds[i + n] == fd) n++;
    int done = 0;
    if (fd < 0) { // discarded (its socket closed before the flush)
      dropped += n;
      done = n;
    }
    while (done < n) {
      int r = sendmmsg(fd, msgs + i + done, (unsigned)(n - done), 0);
      if (r > 0) done += r;
      else if (r < 0 && errno == EINTR) continue;
      else {
        // EAGAIN/ENOBUFS (socket buffer full) or an unreachable address: drop this one, go on.
        dropped++;
        done++;
      }
    }
    i += n;
  }
  return dropped;
}

static void flush_queue(SendQueue *q) {
  q->dropped += send_runs(q->fds, q->msgs, q->queued);
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

// ---- rows: a fan-out built and sent here ----

// Layout of one row (Int32Array words); rtp-batch.ts writes them, keep both in step.
#define ROW_WORDS 16
#define ROW_KEY 0      // index into the keys array
#define ROW_FD 1       // socket descriptor (-1: discarded, its socket closed since)
#define ROW_PAYLOAD 2  // index into the payloads array
#define ROW_BITS 3     // pt (7) | marker << 7 | midId << 8 (4) | astId << 12 (4) | midLength << 16 (5)
#define ROW_SEQ 4
#define ROW_TS 5
#define ROW_SSRC 6
#define ROW_ROC 7
#define ROW_ADDR 8     // IPv4 address, byte 0 = first octet (as sockaddr_in stores it)
#define ROW_PORT 9
#define ROW_MID 10     // 4 words = up to 16 MID bytes, in order
#define ROW_VP8 14     // pictureId (15) | tl0 << 15 (8) | hasPictureId << 23 | hasTl0 << 24
#define ROW_AST 15     // abs-send-time, 24 bits

#define ARENA_BYTES (1 << 20)
#define MAX_DATAGRAM 65535

typedef struct RowQueue {
  struct mmsghdr msgs[QUEUE_MAX];
  struct iovec iovs[QUEUE_MAX];
  struct sockaddr_in addrs[QUEUE_MAX];
  int fds[QUEUE_MAX];
  int queued;
  size_t used;
  double dropped;
  double rejected;
  uint8_t arena[ARENA_BYTES];
} RowQueue;

static void rows_flush(RowQueue *q) {
  q->dropped += send_runs(q->fds, q->msgs, q->queued);
  q->queued = 0;
  q->used = 0;
}

// The same layout and bytes as rtp/rtp-header.ts writeRtpHeader. Returns the header length.
static size_t write_header(uint8_t *out, const int32_t *row) {
  uint32_t bits = (uint32_t)row[ROW_BITS];
  unsigned pt = bits & 0x7f, marker = (bits >> 7) & 1, midId = (bits >> 8) & 0xf, astId = (bits >> 12) & 0xf, midLength = (bits >> 16) & 0x1f;
  uint32_t seq = (uint32_t)row[ROW_SEQ], ts = (uint32_t)row[ROW_TS], ssrc = (uint32_t)row[ROW_SSRC];
  bool ext = midId > 0 || astId > 0;
  out[0] = ext ? 0x90 : 0x80;
  out[1] = (uint8_t)((marker << 7) | pt);
  out[2] = (uint8_t)(seq >> 8); out[3] = (uint8_t)seq;
  out[4] = (uint8_t)(ts >> 24); out[5] = (uint8_t)(ts >> 16); out[6] = (uint8_t)(ts >> 8); out[7] = (uint8_t)ts;
  out[8] = (uint8_t)(ssrc >> 24); out[9] = (uint8_t)(ssrc >> 16); out[10] = (uint8_t)(ssrc >> 8); out[11] = (uint8_t)ssrc;
  if (!ext) return 12;
  out[12] = 0xbe; out[13] = 0xde;
  size_t i = 16;
  if (midId > 0 && midLength > 0) {
    out[i++] = (uint8_t)((midId << 4) | (midLength - 1));
    memcpy(out + i, &row[ROW_MID], midLength);
    i += midLength;
  }
  if (astId > 0) {
    uint32_t ast = (uint32_t)row[ROW_AST];
    out[i++] = (uint8_t)((astId << 4) | 2);
    out[i++] = (uint8_t)(ast >> 16); out[i++] = (uint8_t)(ast >> 8); out[i++] = (uint8_t)ast;
  }
  while (i & 3) out[i++] = 0;
  out[14] = (uint8_t)(((i - 16) >> 2) >> 8); out[15] = (uint8_t)((i - 16) >> 2);
  return i;
}

// Writes the picture id / TL0PICIDX the VP8 munger chose (rtp/vp8-munger.ts rewrite) into the
// payload descriptor at p[0, n), parsed the same way.
static void write_vp8(uint8_t *p, size_t n, uint32_t vp8) {
  if (n < 3 || (p[0] & 0x80) == 0) return;
  uint8_t x = p[1];
  size_t i = 2;
  if (x & 0x80) {
    bool isLong = (p[i] & 0x80) != 0;
    if (isLong && i + 1 >= n) return;
    unsigned pid = vp8 & 0x7fff;
    if (vp8 & (1u << 23)) {
      if (isLong) { p[i] = (uint8_t)(0x80 | (pid >> 8)); p[i + 1] = (uint8_t)pid; }
      else p[i] = (uint8_t)pid;
    }
    i += isLong ? 2 : 1;
  }
  if ((x & 0x40) && i < n && (vp8 & (1u << 24))) p[i] = (uint8_t)((vp8 >> 15) & 0xff);
}

// sendRtpRows(rows Int32Array, count, keys[], payloads[]) -> datagrams dropped so far (cumulative).
// Builds and sends every row's packet; rows that cannot be built (bad index, no key, too large)
// are skipped and counted (rejected, read by rowsRejected()).
static napi_value send_rtp_rows(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 4) return NULL;
  SendQueue *sq = queue_of(env);
  if (sq == NULL) return NULL;
  if (sq->rows == NULL) {
    sq->rows = calloc(1, sizeof(RowQueue));
    if (sq->rows == NULL) {
      napi_throw_error(env, NULL, "sendRtpRows: out of memory");
      return NULL;
    }
  }
  RowQueue *q = sq->rows;
  napi_typedarray_type type;
  size_t words;
  void *data;
  napi_value ab;
  size_t offset;
  if (napi_get_typedarray_info(env, argv[0], &type, &words, &data, &ab, &offset) != napi_ok || type != napi_int32_array) {
    napi_throw_type_error(env, NULL, "sendRtpRows: expected an Int32Array");
    return NULL;
  }
  const int32_t *rows = data;
  int32_t count = arg_i32(env, argv[1]);
  if (count < 0 || (size_t)count * ROW_WORDS > words) {
    napi_throw_range_error(env, NULL, "sendRtpRows: bad count");
    return NULL;
  }
  uint32_t keyCount = 0, payloadCount = 0;
  if (napi_get_array_length(env, argv[2], &keyCount) != napi_ok || napi_get_array_length(env, argv[3], &payloadCount) != napi_ok) {
    napi_throw_type_error(env, NULL, "sendRtpRows: expected arrays");
    return NULL;
  }
  int32_t lastKey = -1, lastPayload = -1;
  SrtpKey *key = NULL;
  uint8_t *payload = NULL;
  size_t payloadLength = 0;
  bool payloadOk = false; // (an empty payload's data pointer may be NULL)
  for (int32_t r = 0; r < count; r++) {
    const int32_t *row = rows + (size_t)r * ROW_WORDS;
    int32_t fd = row[ROW_FD];
    if (fd < 0) {
      q->dropped++;
      continue;
    }
    int32_t ki = row[ROW_KEY], pi = row[ROW_PAYLOAD];
    if (ki != lastKey) {
      key = NULL;
      lastKey = ki;
      napi_value v;
      void *p = NULL;
      // napi_get_value_external fails on anything but an external (N-API checks the type).
      if (ki >= 0 && (uint32_t)ki < keyCount && napi_get_element(env, argv[2], (uint32_t)ki, &v) == napi_ok && napi_get_value_external(env, v, &p) == napi_ok) key = p;
    }
    if (pi != lastPayload) {
      payload = NULL;
      payloadOk = false;
      lastPayload = pi;
      napi_value v;
      // napi_get_typedarray_info fails on anything but a typed array.
      if (pi >= 0 && (uint32_t)pi < payloadCount && napi_get_element(env, argv[3], (uint32_t)pi, &v) == napi_ok) {
        napi_typedarray_type pt;
        void *pp;
        napi_value pab;
        size_t po;
        if (napi_get_typedarray_info(env, v, &pt, &payloadLength, &pp, &pab, &po) == napi_ok && pt == napi_uint8_array) {
          payload = pp;
          payloadOk = true;
        }
      }
    }
    uint32_t midLength = ((uint32_t)row[ROW_BITS] >> 16) & 0x1f;
    if (key == NULL || !payloadOk || midLength > 16 || payloadLength + 64 > MAX_DATAGRAM) {
      q->rejected++;
      continue;
    }
    size_t need = 16 + 1 + 16 + 4 + 3 + payloadLength + TAG_LENGTH; // largest header + payload + tag
    if (q->queued == QUEUE_MAX || q->used + need > ARENA_BYTES) rows_flush(q);
    uint8_t *out = q->arena + q->used;
    size_t h = write_header(out, row);
    if (payloadLength > 0) memcpy(out + h, payload, payloadLength);
    uint32_t vp8 = (uint32_t)row[ROW_VP8];
    if (vp8 & (3u << 23)) write_vp8(out + h, payloadLength, vp8);
    size_t length = h + payloadLength;
    uint32_t roc = (uint32_t)row[ROW_ROC];
    if (!ctr(key, out, h, length, (uint32_t)row[ROW_SSRC], roc, (uint32_t)row[ROW_SEQ] & 0xffff)) {
      q->rejected++;
      continue;
    }
    unsigned char tag[20];
    hmac(key, out, length, roc, tag);
    memcpy(out + length, tag, TAG_LENGTH);
    length += TAG_LENGTH;
    int k = q->queued;
    struct sockaddr_in *sa = &q->addrs[k];
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    uint32_t port = (uint32_t)row[ROW_PORT];
    sa->sin_port = htons((uint16_t)port);
    memcpy(&sa->sin_addr.s_addr, &row[ROW_ADDR], 4);
    q->iovs[k].iov_base = out;
    q->iovs[k].iov_len = length;
    memset(&q->msgs[k], 0, sizeof(struct mmsghdr));
    q->msgs[k].msg_hdr.msg_name = sa;
    q->msgs[k].msg_hdr.msg_namelen = sizeof(*sa);
    q->msgs[k].msg_hdr.msg_iov = &q->iovs[k];
    q->msgs[k].msg_hdr.msg_iovlen = 1;
    q->fds[k] = fd;
    q->queued = k + 1;
    q->used += (length + 15) & ~(size_t)15;
  }
  rows_flush(q);
  return num(env, q->dropped);
}

// rowsRejected() -> rows that could not be built so far (cumulative; a bug if ever non-zero).
static napi_value rows_rejected(napi_env env, napi_callback_info info) {
  (void)info;
  SendQueue *sq = queue_of(env);
  return num(env, sq && sq->rows ? sq->rows->rejected : 0);
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
    {"sendRtpRows", NULL, send_rtp_rows, NULL, NULL, NULL, napi_enumerable, NULL},
    {"rowsRejected", NULL, rows_rejected, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
