// One shape for "a value or the reason there is none", for every layer: parsers of
// untrusted bytes, link set-up, sends. Modelled on C++23 std::expected (same member names
// and semantics for the subset used here), so that once the toolchain has <expected> this
// header can become `template <class T, class E> using Expected = std::expected<T, E>;` plus
// the same for Unexpected and a one-line unexpected() helper, without touching the callers.
//
// Use: `Expected<Foo, std::string> parse(...)`; return a Foo on success and
// `unexpected("why")` on failure; callers test `if (!r)` and read `r.error()` or `*r`.
#pragma once
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>
#include <variant>

namespace meshcast {

// Thrown by value() on an Expected that holds an error (as std::bad_expected_access is);
// operator* and operator-> do not check, like std::expected's.
class BadExpectedAccess : public std::exception {
 public:
  const char* what() const noexcept override { return "Expected::value() holds an error"; }
};

// The error alternative, wrapped so that an Expected<T, E> whose T and E are the same type
// (or convert into each other) still knows which one it was given.
template <class E>
class Unexpected {
 public:
  template <class G = E>
  requires(!std::is_same_v<std::remove_cvref_t<G>, Unexpected> &&
           std::is_constructible_v<E, G>) constexpr explicit Unexpected(G&& e)
      : error_(std::forward<G>(e)) {}

  constexpr const E& error() const& noexcept { return error_; }
  constexpr E& error() & noexcept { return error_; }
  constexpr E&& error() && noexcept { return std::move(error_); }

  template <class G>
  friend constexpr bool operator==(const Unexpected& a, const Unexpected<G>& b) {
    return a.error() == b.error();
  }

 private:
  E error_;
};
template <class E>
Unexpected(E) -> Unexpected<E>;

// unexpected("reason") -> Unexpected<const char*>, which converts into any Expected whose
// error type can be built from a const char* (std::string, const char*).
template <class E>
constexpr Unexpected<std::decay_t<E>> unexpected(E&& e) {
  return Unexpected<std::decay_t<E>>(std::forward<E>(e));
}

namespace detail {
template <class>
inline constexpr bool kIsUnexpected = false;
template <class E>
inline constexpr bool kIsUnexpected<Unexpected<E>> = true;
}  // namespace detail

template <class T, class E>
class Expected;

namespace detail {
template <class>
inline constexpr bool kIsExpected = false;
template <class T, class E>
inline constexpr bool kIsExpected<Expected<T, E>> = true;
}  // namespace detail

template <class T, class E>
class Expected {
  static_assert(!std::is_reference_v<T> && !std::is_reference_v<E>);
  static_assert(!detail::kIsUnexpected<std::remove_cv_t<T>>);

 public:
  using value_type = T;
  using error_type = E;
  using unexpected_type = Unexpected<E>;

  // Like std::expected: a default-constructed Expected holds a value-initialised T.
  constexpr Expected() requires std::is_default_constructible_v<T> : v_(std::in_place_index<0>) {}

  template <class U = T>
  requires(!std::is_same_v<std::remove_cvref_t<U>, Expected> &&
           !std::is_same_v<std::remove_cvref_t<U>, std::in_place_t> &&
           !detail::kIsUnexpected<std::remove_cvref_t<U>> &&
           std::is_constructible_v<T, U>) constexpr explicit(!std::is_convertible_v<U, T>)
      Expected(U&& v)
      : v_(std::in_place_index<0>, std::forward<U>(v)) {}

  template <class... Args>
  requires std::is_constructible_v<T, Args...>
  constexpr explicit Expected(std::in_place_t, Args&&... args)
      : v_(std::in_place_index<0>, std::forward<Args>(args)...) {}

  template <class G>
  requires std::is_constructible_v<E, const G&>
  constexpr explicit(!std::is_convertible_v<const G&, E>) Expected(const Unexpected<G>& e)
      : v_(std::in_place_index<1>, e.error()) {}

  template <class G>
  requires std::is_constructible_v<E, G>
  constexpr explicit(!std::is_convertible_v<G, E>) Expected(Unexpected<G>&& e)
      : v_(std::in_place_index<1>, std::move(e).error()) {}

  constexpr bool has_value() const noexcept { return v_.index() == 0; }
  constexpr explicit operator bool() const noexcept { return has_value(); }

  constexpr T& value() & {
    check();
    return *std::get_if<0>(&v_);
  }
  constexpr const T& value() const& {
    check();
    return *std::get_if<0>(&v_);
  }
  constexpr T&& value() && {
    check();
    return std::move(*std::get_if<0>(&v_));
  }

  // Only when !has_value(), as with std::expected.
  constexpr E& error() & noexcept { return *std::get_if<1>(&v_); }
  constexpr const E& error() const& noexcept { return *std::get_if<1>(&v_); }
  constexpr E&& error() && noexcept { return std::move(*std::get_if<1>(&v_)); }

  // Only when has_value(), as with std::expected.
  constexpr T& operator*() & noexcept { return *std::get_if<0>(&v_); }
  constexpr const T& operator*() const& noexcept { return *std::get_if<0>(&v_); }
  constexpr T&& operator*() && noexcept { return std::move(*std::get_if<0>(&v_)); }
  constexpr T* operator->() noexcept { return std::get_if<0>(&v_); }
  constexpr const T* operator->() const noexcept { return std::get_if<0>(&v_); }

  template <class U>
  constexpr T value_or(U&& fallback) const& {
    return has_value() ? **this : static_cast<T>(std::forward<U>(fallback));
  }
  template <class U>
  constexpr T value_or(U&& fallback) && {
    return has_value() ? std::move(**this) : static_cast<T>(std::forward<U>(fallback));
  }

  template <class U>
  requires(!detail::kIsUnexpected<U> && !detail::kIsExpected<U>) friend constexpr bool operator==(
      const Expected& x, const U& v) {
    return x.has_value() && static_cast<bool>(*x == v);
  }
  template <class G>
  friend constexpr bool operator==(const Expected& x, const Unexpected<G>& e) {
    return !x.has_value() && static_cast<bool>(x.error() == e.error());
  }

 private:
  constexpr void check() const {
    if (!has_value()) throw BadExpectedAccess();
  }
  // Index 0 the value, 1 the error (by index, so T and E may be the same type).
  std::variant<T, E> v_;
};

// Success carries no value: "it worked" or the reason it did not.
template <class E>
class Expected<void, E> {
  static_assert(!std::is_reference_v<E>);

 public:
  using value_type = void;
  using error_type = E;
  using unexpected_type = Unexpected<E>;

  constexpr Expected() noexcept = default;
  constexpr explicit Expected(std::in_place_t) noexcept {}

  template <class G>
  requires std::is_constructible_v<E, const G&>
  constexpr explicit(!std::is_convertible_v<const G&, E>) Expected(const Unexpected<G>& e)
      : error_(std::in_place, e.error()) {}

  template <class G>
  requires std::is_constructible_v<E, G>
  constexpr explicit(!std::is_convertible_v<G, E>) Expected(Unexpected<G>&& e)
      : error_(std::in_place, std::move(e).error()) {}

  constexpr bool has_value() const noexcept { return !error_.has_value(); }
  constexpr explicit operator bool() const noexcept { return has_value(); }

  constexpr void value() const {
    if (!has_value()) throw BadExpectedAccess();
  }
  constexpr void operator*() const noexcept {}

  constexpr E& error() & noexcept { return *error_; }
  constexpr const E& error() const& noexcept { return *error_; }
  constexpr E&& error() && noexcept { return std::move(*error_); }

  template <class G>
  friend constexpr bool operator==(const Expected& x, const Unexpected<G>& e) {
    return !x.has_value() && static_cast<bool>(x.error() == e.error());
  }

 private:
  std::optional<E> error_;  // empty on success
};

}  // namespace meshcast
