#include "scene.hpp"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <stdexcept>
#include <tuple>

namespace scenes {

uint64_t Rng::next() {
  uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint32_t Rng::below(uint32_t n) {
  // Rejection keeps every value equally likely (a plain modulo would favour the small ones).
  const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t x;
  do x = next(); while (x >= limit);
  return static_cast<uint32_t>(x % n);
}

Split parse_split(const std::string& name) {
  if (name == "train") return Split::train;
  if (name == "validation") return Split::validation;
  if (name == "test") return Split::test;
  throw std::invalid_argument("unknown split '" + name + "' (expected train, validation or test)");
}

uint64_t scene_seed(Split split, uint64_t index) {
  if (index >= (uint64_t(1) << 40)) throw std::invalid_argument("scene index out of range");
  return (uint64_t(static_cast<int>(split) + 1) << 40) | index;
}

namespace {

// "a red circle", "an orange star"
std::string a_or_an(const std::string& phrase) {
  const bool vowel = !phrase.empty() && std::string("aeiou").find(phrase[0]) != std::string::npos;
  return (vowel ? "an " : "a ") + phrase;
}

const char* count_word(size_t n) {
  static const char* words[] = {"zero", "one", "two", "three", "four"};
  return n < 5 ? words[n] : "many";
}

std::string name(const Object& o) {
  return std::string(kColourNames[size_t(o.colour)]) + " " + kShapeNames[size_t(o.shape)];
}

// "left of" and "above" from the places' centres: top/bottom/centre share x, left/right/centre y.
bool left_of(Place a, Place b) { return place_centre(a, 100).x < place_centre(b, 100).x; }
bool above(Place a, Place b) { return place_centre(a, 100).y < place_centre(b, 100).y; }

std::vector<QA> questions(const std::vector<Object>& objects, Rng& rng) {
  std::vector<QA> qa;
  auto shape_count = [&](Shape s) {
    return size_t(std::count_if(objects.begin(), objects.end(), [&](const Object& o) { return o.shape == s; }));
  };
  auto kind_count = [&](Shape s, Colour c) {
    return size_t(std::count_if(objects.begin(), objects.end(), [&](const Object& o) { return o.shape == s && o.colour == c; }));
  };

  // count: mostly a shape in the scene (so counts above one are not rare), sometimes any shape
  const Shape counted = rng.below(4) == 0 ? Shape(rng.below(kShapes)) : objects[rng.below(uint32_t(objects.size()))].shape;
  qa.push_back({"count", std::string("how many ") + kShapePlurals[size_t(counted)] + " are there?",
                count_word(shape_count(counted))});

  // colour: only of a shape that occurs once, so the answer is unambiguous
  std::vector<const Object*> lone;
  for (const Object& o : objects) {
    if (shape_count(o.shape) == 1) lone.push_back(&o);
  }
  if (!lone.empty()) {
    const Object& o = *lone[rng.below(uint32_t(lone.size()))];
    qa.push_back({"colour", std::string("what color is the ") + kShapeNames[size_t(o.shape)] + "?",
                  kColourNames[size_t(o.colour)]});
  }

  // presence: half the time something in the scene, else a colour and shape that is not
  if (rng.coin()) {
    const Object& o = objects[rng.below(uint32_t(objects.size()))];
    qa.push_back({"presence", "is there " + a_or_an(name(o)) + "?", "yes"});
  } else {
    Shape s;
    Colour c;
    do {
      s = Shape(rng.below(kShapes));
      c = Colour(rng.below(kColours));
    } while (kind_count(s, c) > 0);
    qa.push_back({"presence", "is there " + a_or_an(std::string(kColourNames[size_t(c)]) + " " + kShapeNames[size_t(s)]) + "?",
                  "no"});
  }

  // position: "where is" an object named uniquely, or how two of them lie to each other
  std::vector<const Object*> unique;
  for (const Object& o : objects) {
    if (kind_count(o.shape, o.colour) == 1) unique.push_back(&o);
  }
  if (unique.size() >= 2 && rng.coin()) {
    const uint32_t i = rng.below(uint32_t(unique.size()));
    uint32_t j = rng.below(uint32_t(unique.size() - 1));
    if (j >= i) ++j;
    const Object& a = *unique[i];
    const Object& b = *unique[j];
    if (rng.coin()) {
      qa.push_back({"position", "is the " + name(a) + " left of the " + name(b) + "?",
                    left_of(a.place, b.place) ? "yes" : "no"});
    } else {
      qa.push_back({"position", "is the " + name(a) + " above the " + name(b) + "?",
                    above(a.place, b.place) ? "yes" : "no"});
    }
  } else if (!unique.empty()) {
    const Object& o = *unique[rng.below(uint32_t(unique.size()))];
    qa.push_back({"position", "where is the " + name(o) + "?", kPlaceNames[size_t(o.place)]});
  }
  return qa;
}

}  // namespace

std::string caption_of(const std::vector<Object>& objects) {
  std::map<std::tuple<int, int, int>, size_t> groups;  // (shape, colour, size) -> count, in caption order
  for (const Object& o : objects) ++groups[{int(o.shape), int(o.colour), int(o.size)}];
  std::vector<std::string> phrases;
  for (const auto& [key, n] : groups) {
    const auto [shape, colour, size] = key;
    std::string p = Size(size) == Size::large ? "large " : "";
    p += std::string(kColourNames[size_t(colour)]) + " " + (n == 1 ? kShapeNames : kShapePlurals)[size_t(shape)];
    phrases.push_back(n == 1 ? a_or_an(p) : std::string(count_word(n)) + " " + p);
  }
  std::string out;
  for (size_t i = 0; i < phrases.size(); ++i) {
    if (i > 0) out += i + 1 == phrases.size() ? " and " : ", ";
    out += phrases[i];
  }
  return out;
}

cv::Scalar colour_rgb(Colour c) {
  static const cv::Scalar table[] = {{220, 40, 40}, {40, 170, 60},  {40, 80, 220},
                                     {235, 210, 40}, {140, 60, 190}, {245, 140, 30}};
  return table[size_t(c)];
}

cv::Point2f place_centre(Place place, int size) {
  static const float xy[kPlaces][2] = {{0.2f, 0.5f}, {0.8f, 0.5f}, {0.5f, 0.2f}, {0.5f, 0.8f}, {0.5f, 0.5f}};
  return {xy[size_t(place)][0] * float(size), xy[size_t(place)][1] * float(size)};
}

Scene make_scene(uint64_t seed) {
  Scene s;
  s.seed = seed;
  Rng rng(seed);
  std::array<Place, kPlaces> places = {Place::left, Place::right, Place::top, Place::bottom, Place::centre};
  for (uint32_t i = kPlaces - 1; i > 0; --i) std::swap(places[i], places[rng.below(i + 1)]);  // Fisher-Yates
  const uint32_t n = 1 + rng.below(4);
  for (uint32_t i = 0; i < n; ++i) {
    s.objects.push_back({Shape(rng.below(kShapes)), Colour(rng.below(kColours)), Size(rng.below(2)), places[i]});
  }
  // A muted background: a grey from dark to light with a slight tint, far from the shape colours'
  // saturation.
  const int grey = 60 + int(rng.below(141));
  for (int c = 0; c < 3; ++c) s.background[c] = uchar(std::clamp(grey + int(rng.below(31)) - 15, 0, 255));
  s.caption = caption_of(s.objects);
  s.qa = questions(s.objects, rng);
  return s;
}

cv::Mat render(const Scene& scene, int size) {
  if (size < 32 || size > 4096) throw std::invalid_argument("scene size must be 32..4096 pixels");
  cv::Mat img(size, size, CV_8UC3, cv::Scalar(scene.background[0], scene.background[1], scene.background[2]));
  // The rendering has its own stream from the seed, so adding a question type later does not move
  // the pictures.
  Rng rng(scene.seed ^ 0xD1B54A32D192ED03ull);
  const float S = float(size);
  for (const Object& o : scene.objects) {
    const cv::Point2f c = place_centre(o.place, size) +
                          cv::Point2f((float(rng.below(41)) - 20.0f) * 0.001f * S, (float(rng.below(41)) - 20.0f) * 0.001f * S);
    const float r = (o.size == Size::large ? 0.13f : 0.08f) * S;
    const float turn = float(rng.below(21)) - 10.0f;  // degrees, a little rotation for polygons
    const int shift = 4;                              // sub-pixel precision for anti-aliased drawing
    auto fixed = [&](float x, float y) { return cv::Point(int(std::lround(x * 16)), int(std::lround(y * 16))); };
    std::vector<cv::Point> poly;
    auto polygon = [&](int corners, float start_deg, bool star) {
      const int points = star ? corners * 2 : corners;
      for (int k = 0; k < points; ++k) {
        const float a = (start_deg + turn + 360.0f * float(k) / float(points)) * float(CV_PI) / 180.0f;
        const float rad = star && k % 2 == 1 ? r * 0.45f : r;
        poly.push_back(fixed(c.x + rad * std::cos(a), c.y + rad * std::sin(a)));
      }
    };
    switch (o.shape) {
      case Shape::circle:
        cv::circle(img, fixed(c.x, c.y), int(std::lround(r * 16)), colour_rgb(o.colour), cv::FILLED, cv::LINE_AA, shift);
        break;
      case Shape::square: polygon(4, 45.0f, false); break;
      case Shape::triangle: polygon(3, -90.0f, false); break;
      case Shape::star: polygon(5, -90.0f, true); break;
    }
    if (!poly.empty()) cv::fillPoly(img, std::vector<std::vector<cv::Point>>{poly}, colour_rgb(o.colour), cv::LINE_AA, shift);
  }
  // Uniform per-pixel noise (integers, so identical everywhere).
  for (int y = 0; y < size; ++y) {
    auto* row = img.ptr<cv::Vec3b>(y);
    for (int x = 0; x < size; ++x) {
      const uint64_t bits = rng.next();
      for (int ch = 0; ch < 3; ++ch) {
        const int noise = int((bits >> (16 * ch)) % 25) - 12;
        row[x][ch] = cv::saturate_cast<uchar>(int(row[x][ch]) + noise);
      }
    }
  }
  return img;
}

}  // namespace scenes
