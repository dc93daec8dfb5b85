// Synthetic scenes for the bundled model (issue 5): 1-4 shapes of several colours and two sizes at
// five positions, on a noisy background, each with a canonical caption and question/answer pairs.
// Everything follows from a 64-bit seed through glimpse's own generator (not <random>, whose
// distributions differ between standard libraries), so a scene is the same on every machine.
#ifndef GLIMPSE_TOOLS_SCENE_HPP
#define GLIMPSE_TOOLS_SCENE_HPP

#include <opencv2/core.hpp>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace scenes {

enum class Shape { circle, square, triangle, star };
enum class Colour { red, green, blue, yellow, purple, orange };
enum class Size { small, large };
enum class Place { left, right, top, bottom, centre };

inline constexpr int kShapes = 4, kColours = 6, kPlaces = 5;
inline constexpr std::array<const char*, kShapes> kShapeNames = {"circle", "square", "triangle", "star"};
inline constexpr std::array<const char*, kShapes> kShapePlurals = {"circles", "squares", "triangles", "stars"};
inline constexpr std::array<const char*, kColours> kColourNames = {"red", "green", "blue", "yellow", "purple", "orange"};
inline constexpr std::array<const char*, kPlaces> kPlaceNames = {"left", "right", "top", "bottom", "centre"};

struct Object {
  Shape shape;
  Colour colour;
  Size size;
  Place place;
};

struct QA {
  std::string type;  // "colour", "count", "presence", "position"
  std::string question, answer;
};

struct Scene {
  uint64_t seed = 0;
  std::vector<Object> objects;  // distinct places
  cv::Vec3b background;         // RGB base colour (noise is added per pixel)
  std::string caption;
  std::vector<QA> qa;
};

// splitmix64: tiny, fast, and identical everywhere.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next();
  uint32_t below(uint32_t n);  // uniform in [0, n) by rejection
  bool coin() { return below(2) == 1; }

 private:
  uint64_t state_;
};

enum class Split { train, validation, test };
Split parse_split(const std::string& name);  // throws std::invalid_argument naming the value
// The seed of scene `index` of a split: the splits draw from disjoint seed ranges.
uint64_t scene_seed(Split split, uint64_t index);

Scene make_scene(uint64_t seed);
// "two red circles and a large blue square": identical objects grouped and counted, groups in
// shape, colour, size order; "large" is said, small is not.
std::string caption_of(const std::vector<Object>& objects);
// The scene drawn in RGB at size x size pixels (anti-aliased shapes, per-pixel uniform noise).
cv::Mat render(const Scene& scene, int size);
// A colour's RGB value as drawn.
cv::Scalar colour_rgb(Colour colour);
// The centre of a place in pixels, before the scene's jitter (at most 2 % of the size).
cv::Point2f place_centre(Place place, int size);

}  // namespace scenes

#endif
