// A blocking HTTP/1.1 client for tests: one keep-alive connection to the
// server under test, raw enough to send what real SDKs send (gzip, odd
// content types, missing auth) and read status, headers and body.
#pragma once

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/core/detail/base64.hpp>
#include <boost/beast/http.hpp>
#include <map>
#include <string>

namespace sluice::testing {

struct HttpResult {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

// `Basic base64(write_key:)`, the Authorization header SDKs send.
inline std::string BasicAuth(const std::string& write_key) {
  std::string plain = write_key + ":";
  std::string out(boost::beast::detail::base64::encoded_size(plain.size()), '\0');
  out.resize(boost::beast::detail::base64::encode(out.data(), plain.data(), plain.size()));
  return "Basic " + out;
}

class HttpClient {
 public:
  explicit HttpClient(uint16_t port) : stream_(ioc_) {
    stream_.connect(boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port));
  }
  HttpResult Send(boost::beast::http::verb verb, const std::string& target, const std::string& body = "",
                  const std::map<std::string, std::string>& headers = {}) {
    namespace http = boost::beast::http;
    http::request<http::string_body> req{verb, target, 11};
    req.set(http::field::host, "127.0.0.1");
    for (const auto& [k, v] : headers) req.set(k, v);
    req.body() = body;
    req.prepare_payload();
    http::write(stream_, req);
    boost::beast::flat_buffer buf;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 << 20);
    http::read(stream_, buf, parser);
    auto res = parser.release();
    HttpResult r;
    r.status = res.result_int();
    for (const auto& f : res) {
      std::string name(f.name_string());
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      r.headers[name] = std::string(f.value());
    }
    r.body = res.body();
    return r;
  }
  HttpResult Post(const std::string& target, const std::string& body, const std::map<std::string, std::string>& h = {}) {
    return Send(boost::beast::http::verb::post, target, body, h);
  }
  HttpResult Get(const std::string& target) { return Send(boost::beast::http::verb::get, target); }

 private:
  boost::asio::io_context ioc_;
  boost::beast::tcp_stream stream_;
};

}  // namespace sluice::testing
