#include "vision/decode.hpp"

#include "runtime/error.hpp"
#include "runtime/file.hpp"

#include <jpeglib.h>
#include <sys/mman.h>
#include <unistd.h>
#include <jerror.h>

#include <algorithm>
#include <csetjmp>
#include <cstdlib>
#include <cstdio>
#include <cctype>
#include <cstring>
#include <fstream>
#include <iterator>
#include <utility>
#include <vector>

// The stb_image implementation is compiled in vision/stb-image.cpp.
#define STBI_NO_STDIO
#include <stb/stb_image.h>

namespace glimpse {

namespace {

void check_pixels(const std::string& name, uint64_t w, uint64_t h, const DecodeOptions& opt) {
  if (w == 0 || h == 0) fail(name, ": image has no pixels (", w, "x", h, ")");
  if (w * h > opt.max_pixels)
    fail(name, ": ", w, "x", h, " = ", w * h, " pixels exceeds the limit of ", opt.max_pixels,
         " (a decompression bomb?)");
}

uint16_t rd16(const uint8_t* p, bool le) { return le ? uint16_t(p[0] | p[1] << 8) : uint16_t(p[0] << 8 | p[1]); }
uint32_t rd32(const uint8_t* p, bool le) {
  return le ? uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24
            : uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | uint32_t(p[3]);
}

// ---- JPEG (libjpeg-turbo) ----------------------------------------------------------------------

struct JpegError {
  jpeg_error_mgr mgr;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
  bool cancelled = false;
};

void jpeg_error_exit(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<JpegError*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}
// libjpeg reports data that ends early as a warning (JWRN_JPEG_EOF) and decodes the rest as
// grey. Pillow refuses such files ("image file is truncated": ImageFile.load raises unless
// LOAD_TRUNCATED_IMAGES is set), so transformers never sees them; neither does glimpse. Other
// warnings (e.g. extraneous bytes before a marker) Pillow tolerates, and so do we.
void jpeg_message(j_common_ptr cinfo, int level) {
  if (level != -1 || cinfo->err->msg_code != JWRN_JPEG_EOF) return;
  auto* err = reinterpret_cast<JpegError*>(cinfo->err);
  std::snprintf(err->message, sizeof err->message, "image file is truncated: the data ends before the image does");
  std::longjmp(err->jump, 1);
}

// PIL's CMYK -> RGB (Convert.c cmyk2rgb): nk = 255 - k; c' = nk - c * nk / 255 (rounded).
uint8_t cmyk_channel(int c, int k) {
  const int nk = 255 - k;
  const int tmp = c * nk + 128;
  const int v = nk - (((tmp >> 8) + tmp) >> 8);
  return uint8_t(v < 0 ? 0 : v > 255 ? 255 : v);
}

// Decodes into `img`; returns the EXIF orientation (1 when none), 0 on an error (`error` says
// which), -1 when opt.should_stop asked to stop. No C++ objects with destructors live across the
// setjmp: libjpeg errors longjmp back here.
int jpeg_decode(const uint8_t* data, size_t size, const DecodeOptions& opt, Image& img, std::string& error) {
  jpeg_decompress_struct cinfo;
  JpegError err;
  cinfo.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = jpeg_error_exit;
  err.mgr.emit_message = jpeg_message;
  uint8_t* volatile row = nullptr;  // volatile: read after longjmp
  if (setjmp(err.jump)) {
    error = err.message;
    std::free(row);
    jpeg_destroy_decompress(&cinfo);
    return err.cancelled ? -1 : 0;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, data, static_cast<unsigned long>(size));
  jpeg_save_markers(&cinfo, JPEG_APP0 + 1, 0xffff);
  jpeg_read_header(&cinfo, TRUE);

  int orientation = 1;
  for (jpeg_saved_marker_ptr m = cinfo.marker_list; m; m = m->next)
    if (m->marker == JPEG_APP0 + 1 && m->data_length > 6 && std::memcmp(m->data, "Exif\0\0", 6) == 0)
      orientation = exif_orientation(m->data, m->data_length);

  const bool cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
  const bool gray = cinfo.jpeg_color_space == JCS_GRAYSCALE;
  cinfo.out_color_space = cmyk ? JCS_CMYK : gray ? JCS_GRAYSCALE : JCS_RGB;
  // Adobe CMYK JPEGs store inverted values; PIL reads them as "CMYK;I".
  const bool inverted = cmyk && cinfo.saw_Adobe_marker;
  if (uint64_t(cinfo.image_width) * cinfo.image_height > opt.max_pixels || !cinfo.image_width || !cinfo.image_height) {
    std::snprintf(err.message, sizeof err.message, "%ux%u = %llu pixels: empty or over the limit of %llu (a decompression bomb?)",
                  cinfo.image_width, cinfo.image_height,
                  static_cast<unsigned long long>(uint64_t(cinfo.image_width) * cinfo.image_height),
                  static_cast<unsigned long long>(opt.max_pixels));
    std::longjmp(err.jump, 1);
  }
  // Every 8x8 block of the fullest component codes at least its DC difference, one Huffman code
  // of at least one bit: so a Huffman-coded file holds at least blocks / 8 bytes. A smaller one
  // claims pixels it cannot contain (a 376-byte file claiming 13000x13000 took 2.7 s and 500 MB
  // to "decode" as grey). Arithmetic coding can go below a bit per block: truncation still ends it.
  const uint64_t blocks = (uint64_t(cinfo.image_width) + 7) / 8 * ((uint64_t(cinfo.image_height) + 7) / 8);
  if (!cinfo.arith_code && uint64_t(size) < blocks / 8) {
    std::snprintf(err.message, sizeof err.message, "image file is truncated: %ux%u needs at least %llu bytes, the file has %llu",
                  cinfo.image_width, cinfo.image_height, static_cast<unsigned long long>(blocks / 8),
                  static_cast<unsigned long long>(size));
    std::longjmp(err.jump, 1);
  }
  jpeg_start_decompress(&cinfo);
  const int w = int(cinfo.output_width), h = int(cinfo.output_height), comps = cinfo.output_components;
  img.width = w;
  img.height = h;
  // Reserved, then grown row by row: memory is touched as rows decode, so a file that turns out
  // truncated early costs what it decoded, not the whole image.
  img.rgb.reserve(size_t(w) * h * 3);
  row = static_cast<uint8_t*>(std::malloc(size_t(w) * size_t(comps)));
  if (!row) {
    std::snprintf(err.message, sizeof err.message, "out of memory");
    std::longjmp(err.jump, 1);
  }
  while (cinfo.output_scanline < cinfo.output_height) {
    const int y = int(cinfo.output_scanline);
    if (opt.should_stop && y % 16 == 0 && opt.should_stop()) {
      std::snprintf(err.message, sizeof err.message, "cancelled");
      err.cancelled = true;
      std::longjmp(err.jump, 1);
    }
    JSAMPROW rows[1] = {static_cast<JSAMPROW>(row)};
    jpeg_read_scanlines(&cinfo, rows, 1);
    img.rgb.resize(size_t(y + 1) * w * 3);
    uint8_t* out = &img.rgb[size_t(y) * w * 3];
    for (int x = 0; x < w; ++x) {
      const uint8_t* p = row + size_t(x) * comps;
      if (comps == 1) {
        out[x * 3] = out[x * 3 + 1] = out[x * 3 + 2] = p[0];
      } else if (comps == 4) {
        const int k = inverted ? 255 - p[3] : p[3];
        for (int c = 0; c < 3; ++c) out[x * 3 + c] = cmyk_channel(inverted ? 255 - p[c] : p[c], k);
      } else {
        out[x * 3] = p[0], out[x * 3 + 1] = p[1], out[x * 3 + 2] = p[2];
      }
    }
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  std::free(row);
  return orientation;
}

// ---- PNG, BMP, GIF, PNM, TGA (stb_image) -----------------------------------------------------

// PNG's eXIf chunk, which PIL's getexif() reads too.
int png_exif_orientation(const uint8_t* data, size_t size) {
  for (size_t at = 8; at + 12 <= size;) {
    const uint32_t len = rd32(data + at, false);
    if (len > size - at - 12) break;
    if (std::memcmp(data + at + 4, "eXIf", 4) == 0) return exif_orientation(data + at + 8, len);
    if (std::memcmp(data + at + 4, "IDAT", 4) == 0) break;  // eXIf must come before the image data
    at += 12 + size_t(len);
  }
  return 1;
}

// ---- data that cannot hold the pixels it claims ---------------------------------------------
// stb_image reads past the end of a file as zeros, so a few bytes claiming a huge image decoded
// "successfully" as a huge flat image (an 18-byte TGA, 35-byte GIF or 54-byte BMP claiming
// 13000x13000: seconds and 1.5 GB each). Pillow refuses data that ends before the image does
// ("image file is truncated"). These checks refuse it before any pixel is allocated: exactly
// for the uncompressed layouts, and for the compressed ones through the codec's largest
// possible ratio (a file smaller than that bound cannot hold the pixels).

[[noreturn]] void truncated(const std::string& name, const char* format, uint64_t w, uint64_t h, uint64_t need,
                            size_t have) {
  fail(name, ": corrupt or truncated ", format, " (image file is truncated: ", w, "x", h, " needs at least ", need,
       " bytes, the file has ", have, ")");
}

// BMP: stb reads uncompressed rows (BI_RGB, BI_BITFIELDS) only, each padded to 4 bytes.
void bmp_check(const uint8_t* data, size_t size, const std::string& name) {
  if (size < 30 || data[0] != 'B' || data[1] != 'M') return;
  const uint32_t hsz = rd32(data + 14, true);
  uint64_t w, h, bpp;
  if (hsz == 12) {
    w = rd16(data + 18, true), h = rd16(data + 20, true), bpp = rd16(data + 24, true);
  } else {
    w = uint64_t(std::abs(int64_t(int32_t(rd32(data + 18, true)))));
    h = uint64_t(std::abs(int64_t(int32_t(rd32(data + 22, true)))));
    bpp = rd16(data + 28, true);
    if (size >= 34 && rd32(data + 30, true) != 0 && rd32(data + 30, true) != 3) return;  // RLE etc.: stb refuses
  }
  if (bpp == 0 || bpp > 32 || hsz > size) return;
  const uint64_t need = 14 + uint64_t(hsz) + (w * bpp + 31) / 32 * 4 * h;
  if (need > size) truncated(name, "BMP", w, h, need, size);
}

// TGA: types 1-3 store pixels raw; 9-11 as run-length packets of at most 128 pixels, each a
// header byte and at least one pixel.
void tga_check(const uint8_t* data, size_t size, const std::string& name) {
  if (size < 18) return;
  const int type = data[2];
  const bool raw = type >= 1 && type <= 3, rle = type >= 9 && type <= 11;
  if (!raw && !rle) return;
  const uint64_t w = rd16(data + 12, true), h = rd16(data + 14, true), bytes = (uint64_t(data[16]) + 7) / 8;
  if (bytes == 0 || bytes > 4) return;  // stb refuses these
  const uint64_t palette = data[1] ? uint64_t(rd16(data + 5, true)) * ((uint64_t(data[7]) + 7) / 8) : 0;
  const uint64_t pixels = w * h;
  const uint64_t need = 18 + uint64_t(data[0]) + palette + (raw ? pixels * bytes : (pixels + 127) / 128 * (1 + bytes));
  if (need > size) truncated(name, "TGA", w, h, need, size);
}

// GIF: the first frame's LZW data, in sub-blocks that end with an empty one. An LZW code is at
// least 3 bits (the minimum code size is 2) and yields at most 4096 pixels (the longest string the
// 12-bit table can hold), so a byte holds at most 4096 * 8 / 3 < 11000 pixels.
void gif_check(const uint8_t* data, size_t size, const std::string& name) {
  if (size < 13 || std::memcmp(data, "GIF8", 4) != 0) return;
  size_t at = 13;
  if (data[10] & 0x80) at += 3 * (size_t(2) << (data[10] & 7));
  while (at < size) {
    if (data[at] == 0x21) {  // extension: label, then sub-blocks
      at += 2;
      while (at < size && data[at] != 0) at += size_t(data[at]) + 1;
      ++at;
    } else if (data[at] == 0x2C) {
      if (at + 10 > size) break;
      const uint64_t w = rd16(data + at + 5, true), h = rd16(data + at + 7, true);
      const uint8_t flags = data[at + 9];
      at += 10;
      if (flags & 0x80) at += 3 * (size_t(2) << (flags & 7));
      ++at;  // LZW minimum code size
      uint64_t lzw = 0;
      bool ended = false;
      while (at < size) {
        if (data[at] == 0) {
          ended = true;
          break;
        }
        lzw += data[at];
        at += size_t(data[at]) + 1;
      }
      const uint64_t need = (w * h + 10999) / 11000;
      if (!ended || at > size) fail(name, ": corrupt or truncated GIF (image file is truncated: the first frame's data has no end)");
      if (lzw < need) truncated(name, "GIF", w, h, need, size_t(lzw));
      return;
    } else {
      return;  // the trailer or garbage: stb's own error
    }
  }
  fail(name, ": corrupt or truncated GIF (image file is truncated: it ends before its first frame)");
}

// PNG chunks, walked once before stb_image sees them:
// - stb grows its IDAT buffer to what a chunk header claims before reading the chunk: a 1 KB file
//   claiming a 2 GB chunk made it allocate 2 GB (found by fuzz-image). Every chunk must fit in
//   the bytes that are there.
// - Deflate codes at most 258 bytes in 2 bits (a 1032:1 ratio), so the IDAT chunks together hold
//   at least the filtered rows / 1032 bytes (less slack for the zlib framing).
// The caller has checked the signature and the IHDR's name.
void png_check(const uint8_t* data, size_t size, const std::string& name) {
  uint64_t idat = 0;
  for (size_t at = 8; at + 12 <= size;) {
    const uint32_t len = rd32(data + at, false);
    if (len > size - at - 12) {
      std::string type(reinterpret_cast<const char*>(data + at + 4), 4);
      for (char& ch : type) ch = std::isalpha(static_cast<unsigned char>(ch)) ? ch : '?';
      fail(name, ": corrupt or truncated PNG (a ", type, " chunk claims ", len, " bytes, ", size - at - 12, " remain)");
    }
    if (std::memcmp(data + at + 4, "IEND", 4) == 0) break;
    if (std::memcmp(data + at + 4, "IDAT", 4) == 0) idat += len;
    at += 12 + size_t(len);
  }
  if (size < 26) return;  // no bit depth and colour type: stb refuses it
  const uint64_t w = rd32(data + 16, false), h = rd32(data + 20, false);
  const int depth = data[24], color = data[25];
  const int channels = color == 2 ? 3 : color == 4 ? 2 : color == 6 ? 4 : 1;
  const uint64_t raw = h * (1 + (w * uint64_t(channels) * uint64_t(depth) + 7) / 8);
  const uint64_t need = raw / 1032;
  if (idat + 16 < need) truncated(name, "PNG", w, h, need, size_t(idat));
}

// PNM in front of stb_image, which trusts its input too far here (each found by fuzz-image):
// its header reader overflows an int on long numbers (undefined behaviour); its 16-bit path
// writes past its buffer for grey images; it reads pixel data a truncated file does not have.
// So: header numbers of at most 9 digits, 8-bit samples only, and every pixel byte present.
// Header: "P5" (grey) or "P6" (RGB), then width, height and maximum value separated by
// whitespace and # comments, one whitespace byte, the samples.
void pnm_check(const uint8_t* data, size_t size, const std::string& name) {
  if (size < 2 || data[0] != 'P' || (data[1] != '5' && data[1] != '6')) return;
  size_t i = 2;
  uint64_t v[3] = {0, 0, 0};
  const char* fields[3] = {"width", "height", "maximum value"};
  for (int f = 0; f < 3; ++f) {
    while (i < size) {
      if (std::isspace(data[i])) ++i;
      else if (data[i] == '#') while (i < size && data[i] != '\n' && data[i] != '\r') ++i;
      else break;
    }
    size_t digits = 0;
    while (i < size && std::isdigit(data[i])) v[f] = v[f] * 10 + uint64_t(data[i++] - '0'), ++digits;
    if (digits > 9) fail(name, ": corrupt PNM header (its ", fields[f], " has ", digits, " digits)");
    if (digits == 0) return;  // not a number: stb refuses it
  }
  if (v[2] > 255) fail(name, ": 16-bit PNM images (maximum value ", v[2], ") are not supported");
  const uint64_t needed = v[0] * v[1] * (data[1] == '6' ? 3 : 1), have = i < size ? size - i - 1 : 0;
  if (have < needed) fail(name, ": corrupt or truncated PNM (", needed, " bytes of samples expected, ", have, " present)");
}

Image stb_decode(const uint8_t* data, size_t size, const std::string& name, const DecodeOptions& opt) {
  if (size > size_t(INT32_MAX)) fail(name, ": file too large");
  // PNG states its size in the first chunk: check the limit before stb's own caps can hide it.
  if (size >= 24 && std::memcmp(data, "\x89PNG\r\n\x1a\n", 8) == 0 && std::memcmp(data + 12, "IHDR", 4) == 0) {
    check_pixels(name, rd32(data + 16, false), rd32(data + 20, false), opt);
    png_check(data, size, name);
  }
  pnm_check(data, size, name);
  bmp_check(data, size, name);
  gif_check(data, size, name);
  int w = 0, h = 0, comps = 0;
  if (!stbi_info_from_memory(data, int(size), &w, &h, &comps))
    fail(name, ": not a decodable image (", stbi_failure_reason(), ")");
  check_pixels(name, uint64_t(w), uint64_t(h), opt);
  // TGA has no signature: stb tries it last, so a file none of the others claims is one.
  const bool other = std::memcmp(data, "\x89PNG", std::min<size_t>(size, 4)) == 0 || (size >= 2 && data[0] == 'B' && data[1] == 'M') ||
                     (size >= 4 && std::memcmp(data, "GIF8", 4) == 0) || (size >= 2 && data[0] == 'P' && data[1] >= '1' && data[1] <= '7');
  if (!other) tga_check(data, size, name);
  // 3 channels requested: stb drops alpha, expands gray and palettes, and keeps the high byte
  // of 16-bit samples, as PIL's RGB;16B unpacking does.
  unsigned char* pixels = stbi_load_from_memory(data, int(size), &w, &h, &comps, 3);
  if (!pixels) fail(name, ": corrupt or truncated image (", stbi_failure_reason(), ")");
  // Moved over in slices, each slice of stb's buffer handed back to the OS once copied: one
  // full-size copy of the pixels is resident at a time, not two.
  Image img;
  img.width = w;
  img.height = h;
  const size_t total = size_t(w) * h * 3;
  img.rgb.resize(total);
  const size_t page = size_t(::sysconf(_SC_PAGESIZE)), slice = size_t(4) << 20;
  for (size_t at = 0; at < total; at += slice) {
    const size_t n = std::min(slice, total - at);
    std::memcpy(img.rgb.data() + at, pixels + at, n);
    const uintptr_t lo = (reinterpret_cast<uintptr_t>(pixels) + at + page - 1) / page * page;
    const uintptr_t hi = (reinterpret_cast<uintptr_t>(pixels) + at + n) / page * page;
    if (hi > lo) ::madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);  // advice: the block is freed next
  }
  stbi_image_free(pixels);
  return img;
}

}  // namespace

int exif_orientation(const uint8_t* data, size_t size) {
  if (size >= 6 && std::memcmp(data, "Exif\0\0", 6) == 0) data += 6, size -= 6;
  if (size < 8) return 1;
  bool le;
  if (data[0] == 'I' && data[1] == 'I') le = true;
  else if (data[0] == 'M' && data[1] == 'M') le = false;
  else return 1;
  if (rd16(data + 2, le) != 42) return 1;
  const uint32_t ifd = rd32(data + 4, le);
  if (ifd > size - 2 || ifd < 8) return 1;
  const uint16_t count = rd16(data + ifd, le);
  for (uint32_t i = 0; i < count; ++i) {
    const size_t e = size_t(ifd) + 2 + size_t(i) * 12;
    if (e + 12 > size) break;
    if (rd16(data + e, le) == 0x0112) {  // Orientation, SHORT
      const uint16_t v = rd16(data + e + 8, le);
      return v >= 1 && v <= 8 ? v : 1;
    }
  }
  return 1;
}

Image image_orient(Image in, int orientation) {
  if (orientation <= 1 || orientation > 8) return in;  // moved, not copied
  const int w = in.width, h = in.height;
  const bool swap = orientation >= 5;  // 5-8 transpose the axes
  Image out;
  out.width = swap ? h : w;
  out.height = swap ? w : h;
  out.rgb.resize(in.rgb.size());
  for (int y = 0; y < out.height; ++y)
    for (int x = 0; x < out.width; ++x) {
      int sx = x, sy = y;  // the source pixel, per PIL's exif_transpose methods
      switch (orientation) {
        case 2: sx = w - 1 - x; break;                  // FLIP_LEFT_RIGHT
        case 3: sx = w - 1 - x, sy = h - 1 - y; break;  // ROTATE_180
        case 4: sy = h - 1 - y; break;                  // FLIP_TOP_BOTTOM
        case 5: sx = y, sy = x; break;                  // TRANSPOSE
        case 6: sx = y, sy = h - 1 - x; break;          // ROTATE_270 (90 clockwise)
        case 7: sx = w - 1 - y, sy = h - 1 - x; break;  // TRANSVERSE
        case 8: sx = w - 1 - y, sy = x; break;          // ROTATE_90 (90 counter-clockwise)
      }
      std::memcpy(&out.rgb[(size_t(y) * out.width + x) * 3], &in.rgb[(size_t(sy) * w + sx) * 3], 3);
    }
  return out;
}

Image image_decode(const uint8_t* data, size_t size, const std::string& name, const DecodeOptions& opt) {
  if (size == 0) fail(name, ": empty file");
  if (opt.should_stop && opt.should_stop()) fail(ErrorCode::Cancelled, name, ": cancelled before decoding");
  Image img;
  int orientation = 1;
  if (size >= 3 && data[0] == 0xff && data[1] == 0xd8 && data[2] == 0xff) {
    std::string error;
    orientation = jpeg_decode(data, size, opt, img, error);
    if (orientation < 0) fail(ErrorCode::Cancelled, name, ": cancelled while decoding");
    if (orientation == 0) fail(name, ": corrupt or truncated JPEG (", error, ")");
  } else {
    img = stb_decode(data, size, name, opt);
    if (size >= 8 && std::memcmp(data, "\x89PNG\r\n\x1a\n", 8) == 0) orientation = png_exif_orientation(data, size);
  }
  if (opt.should_stop && opt.should_stop()) fail(ErrorCode::Cancelled, name, ": cancelled after decoding");
  // The decoded image moves through: copying it here doubled the peak memory of every decode.
  if (!opt.exif_orientation) return img;
  return image_orient(std::move(img), orientation);
}

Image image_load(const std::string& path, const DecodeOptions& opt) {
  const std::string bytes = file_read(path, kMaxImageFileBytes, "an image file");
  return image_decode(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), path, opt);
}

}  // namespace glimpse
